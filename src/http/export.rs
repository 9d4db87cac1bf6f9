//! Data export (`GET /v1/me/export`): the document is rendered on the blocking pool while it is
//! read and reaches the client through a bounded channel, so neither side holds the whole of it.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use crate::accounts::tokens::Scope;
use crate::db::{Id, Pool};
use crate::error::{AppError, AppResult, Problem};
use crate::export::fhir::Bundle;
use crate::export::json::ExportDocument;
use crate::export::{self, ExportError, Format, Writer};
use crate::http::AppState;
use crate::http::auth::Principal;

/// Chunks (of about 64 KiB) rendered ahead of the client: what an export holds in memory besides
/// one page of rows.
const CHUNKS_AHEAD: usize = 4;

/// Query of `GET /v1/me/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `json` (the default: every section, see `ExportDocument`), `fhir` (a FHIR R4 `Bundle`) or
    /// `csv` (measurements, one row each).
    #[param(pattern = "^(json|fhir|csv)$")]
    pub format: Option<String>,
}

type Chunk = Result<Bytes, AppError>;

/// A response body fed by the export's producer.
struct ChannelBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Chunk>,
}

impl MessageBody for ChannelBody {
    type Error = AppError;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, AppError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        self.rx.poll_recv(cx)
    }
}

/// Runs the export on this (blocking) thread, handing chunks to `tx`. A failure is sent as the
/// last item: before the first chunk it becomes the problem+json answer; after it, the body ends
/// with an error and the connection is closed, so a client never takes a cut-off document for a
/// whole one.
fn produce(pool: &Pool, user: Id, format: Format, tx: &mpsc::Sender<Chunk>) {
    let result = match pool.get() {
        Err(e) => Err(AppError::from(e)),
        Ok(mut conn) => {
            let mut send = |chunk: Vec<u8>| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok();
            let mut out = Writer::new(&mut send);
            match export::export(&mut conn, user, format, &mut out) {
                Ok(()) | Err(ExportError::Closed) => Ok(()),
                Err(ExportError::Db(e)) => Err(AppError::from(e)),
                Err(ExportError::Render(e)) => Err(AppError::internal(e)),
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "export stopped");
        let _ = tx.blocking_send(Err(e));
    }
}

/// Everything held about the signed-in resident, to take elsewhere: `json` (profile, sessions,
/// app tokens, staff roles, measurements, points balances and ledger, lottery entries,
/// memberships, consents with their history, access log), `fhir` (a FHIR R4 `Bundle` of type
/// `collection`: `Patient`, one `Observation` per measurement, one `Consent` per consent) or
/// `csv` (one row per measurement, one column per value field). Streamed from one snapshot of the
/// database. Needs a login session: app tokens cannot export.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The export, as an attachment",
            headers(("Content-Disposition" = String, description = "attachment; filename=\"karada-export-YYYYMMDD.…\"")),
            content(
                (ExportDocument = "application/json"),
                (Bundle = "application/fhir+json"),
                (String = "text/csv")
            )),
        (status = 400, description = "Malformed or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/export")]
async fn export_me(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<ExportQuery>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let format = match query.into_inner().format.as_deref() {
        None => Format::Json,
        Some(f) => Format::parse(f).ok_or_else(|| AppError::invalid("format", "must be json, fhir or csv"))?,
    };
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHUNKS_AHEAD);
    let pool = state.pool.clone();
    let user = who.user_id;
    actix_web::rt::task::spawn_blocking(move || produce(&pool, user, format, &tx));
    let first = match rx.recv().await {
        Some(Ok(first)) => first,
        Some(Err(e)) => return Err(e),
        None => return Err(AppError::internal("the export ended before its first chunk")),
    };
    let file = format!(
        "karada-export-{}.{}",
        chrono::Utc::now().format("%Y%m%d"),
        format.file_extension()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(ChannelBody { first: Some(first), rx }))
}

/// Registers the export and import routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_me);
}
