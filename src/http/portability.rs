//! Data portability: export (`GET /v1/me/export`) and import (`POST /v1/measurements/import`).
//!
//! An export is rendered on the blocking pool while it is read and reaches the client through a
//! bounded channel, so neither side holds the whole of it.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use crate::accounts::tokens::{Modality, Scope};
use crate::db::{Id, Pool};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::export::fhir::Bundle;
use crate::export::json::ExportDocument;
use crate::export::{self, ExportError, Format, Writer};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::measurements::{conflict_error, uploader};
use crate::import::{self, Entry, ImportDocument, Item};
use crate::measurements::{self, ItemResult, Outcome};

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

/// What happened to one entry of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Stored (for a daily total: stored or replaced that day's value).
    Created,
    /// Already stored: nothing written (a re-import, or a daily total older than the stored one).
    Duplicate,
    /// Refused; `errors` says why.
    Invalid,
    /// Not a measurement (a FHIR `Patient` or `Consent`, say): not imported.
    Skipped,
}

/// One entry's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// Position in the document: the `Bundle` entry or list index (0 for a single resource).
    pub index: usize,
    /// Outcome.
    pub status: ImportStatus,
    /// The stored measurement's id (created or duplicate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<uuid::Uuid>,
    /// For skipped entries: the resource type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// For invalid entries: each offending field, named by its place in the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// `POST /v1/measurements/import` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    /// Entries stored.
    pub created: usize,
    /// Entries already stored.
    pub duplicates: usize,
    /// Entries refused.
    pub invalid: usize,
    /// Entries that are not measurements.
    pub skipped: usize,
    /// One result per entry, in document order.
    pub results: Vec<ImportResult>,
}

/// Imports measurements from another record: a FHIR R4 `Observation`, a FHIR `Bundle` (its
/// Observations; other entries, such as an export's `Patient` and `Consent`s, are skipped), an
/// Open mHealth data point or a list of them. Codes and units are mapped back through the
/// catalogue (docs/MEASUREMENT-TYPES.md); each measurement is then validated and stored as by
/// `POST /v1/measurements/batch`, in one transaction, idempotently: the client reference is the
/// Observation's identifier (else its id) or the data point's header id, so importing the same
/// file again creates nothing twice. The document's modality (the FHIR modality extension, Open
/// mHealth `acquisition_provenance.modality`) is kept; without one the credential's applies.
/// 422 when nothing in the document can be imported, naming every offending field.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    request_body(content(
        (ImportDocument = "application/json"),
        (ImportDocument = "application/fhir+json")
    )),
    responses(
        (status = 200, description = "Per-entry results", body = ImportResponse),
        (status = 422, description = "Not an importable document, no measurement in it, more than 1,000, or none valid",
            body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/measurements/import")]
async fn import_measurements(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<Value>,
) -> AppResult<web::Json<ImportResponse>> {
    who.require(Scope::MeasurementsWrite)?;
    let document = import::parse(&body.into_inner())?;
    let items: Vec<Item> = document
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Item(item) => Some((**item).clone()),
            Entry::Skipped(_) => None,
        })
        .collect();
    let mapped: Vec<(usize, measurements::MeasurementInput, Option<Modality>, Option<Id>)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            item.input
                .as_ref()
                .ok()
                .map(|input| (i, input.clone(), item.modality, item.own_id()))
        })
        .collect();
    let who_uploads = uploader(&who);
    let user = who.user_id;
    let recorded: Vec<(usize, ItemResult)> = if mapped.is_empty() {
        Vec::new()
    } else {
        state
            .db(move |c| {
                // An Observation that is one of the caller's own measurements (their export, imported
                // back) is that measurement, whatever client reference it lacked.
                let ids: Vec<Id> = mapped.iter().filter_map(|(_, _, _, id)| *id).collect();
                let own = measurements::find_many(c, user, &ids)?;
                let mut results = Vec::new();
                let mut rest = Vec::new();
                for (i, input, modality, id) in mapped {
                    match own.iter().find(|m| Some(m.id) == id) {
                        Some(m) => results.push((i, ItemResult::Done(Outcome::Duplicate(m.clone())))),
                        None => rest.push((i, input, modality)),
                    }
                }
                let at: Vec<usize> = rest.iter().map(|(i, _, _)| *i).collect();
                let inputs = rest.into_iter().map(|(_, input, m)| Ok((input, m))).collect();
                if !at.is_empty() {
                    let recorded = measurements::record_claimed(c, &who_uploads, inputs, |_| String::new())?;
                    results.extend(at.into_iter().zip(recorded));
                }
                Ok(results)
            })
            .await?
    };
    let mut outcomes: Vec<Option<ItemResult>> = vec![None; items.len()];
    for (i, r) in recorded {
        outcomes[i] = Some(r);
    }

    let mut out = ImportResponse {
        created: 0,
        duplicates: 0,
        invalid: 0,
        skipped: 0,
        results: Vec::new(),
    };
    let mut all_errors = Vec::new();
    let mut next_item = 0;
    for (index, entry) in document.entries.iter().enumerate() {
        let (status, id, resource_type, errors) = match entry {
            Entry::Skipped(kind) => (ImportStatus::Skipped, None, Some(kind.clone()), None),
            Entry::Item(item) => {
                let outcome = outcomes.get_mut(next_item).and_then(Option::take);
                next_item += 1;
                match (&item.input, outcome) {
                    (Err(errors), _) => (ImportStatus::Invalid, None, None, Some(errors.clone())),
                    (Ok(_), Some(ItemResult::Invalid(errors))) => {
                        let named = errors
                            .into_iter()
                            .map(|e| FieldError::new(item.field_name(&e.field), e.message))
                            .collect();
                        (ImportStatus::Invalid, None, None, Some(named))
                    }
                    (Ok(_), Some(ItemResult::Done(Outcome::Created(m) | Outcome::Replaced(m)))) => {
                        (ImportStatus::Created, Some(m.id.0), None, None)
                    }
                    (Ok(_), Some(ItemResult::Done(Outcome::Duplicate(m)))) => {
                        (ImportStatus::Duplicate, Some(m.id.0), None, None)
                    }
                    (Ok(_), Some(ItemResult::Done(Outcome::ClientRefConflict))) => (
                        ImportStatus::Invalid,
                        None,
                        None,
                        Some(vec![conflict_error(item.field_name("client_ref"))]),
                    ),
                    (Ok(_), None) => return Err(AppError::internal("an import item has no result")),
                }
            }
        };
        match status {
            ImportStatus::Created => out.created += 1,
            ImportStatus::Duplicate => out.duplicates += 1,
            ImportStatus::Invalid => out.invalid += 1,
            ImportStatus::Skipped => out.skipped += 1,
        }
        if let Some(e) = &errors {
            all_errors.extend(e.iter().cloned());
        }
        out.results.push(ImportResult {
            index,
            status,
            id,
            resource_type,
            errors,
        });
    }
    // A document of which nothing could be imported is refused as a whole, naming every field.
    if out.created == 0 && out.duplicates == 0 {
        return Err(AppError::Validation(all_errors));
    }
    Ok(web::Json(out))
}

/// Registers the export and import routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_me).service(import_measurements);
}
