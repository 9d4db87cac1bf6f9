//! Data portability: export (`GET /v1/me/export`) and import (`POST /v1/measurements/import`).
//!
//! An export is rendered on the blocking pool into a spool file (`export::spool`) and sent from
//! there: the database connection is held only while the snapshot is read, never at the client's
//! pace. Each account may have a few exports in flight (`ExportSlots`); the server cuts off a
//! client that stops reading (`KARADA_STALLED_CLIENT_TIMEOUT_SECS`), which frees its slot.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::tokens::{Modality, Scope};
use crate::db::MeasurementId;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::export::fhir::Bundle;
use crate::export::json::ExportDocument;
use crate::export::{self, CHUNK_BYTES, ExportError, Format, SpoolFailure};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::limits::ExportSlot;
use crate::http::measurements::{ItemStatus, Tally, report, uploader};
use crate::import::{self, Entry, ImportDocument};
use crate::measurements::{ItemResult, MeasurementInput};
use crate::usecases::upload;

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

/// A response body read from the export's spool file, a chunk at a time; it holds the account's
/// export slot until it is sent whole or dropped (the client went away or was cut off).
struct SpoolBody {
    file: tokio::fs::File,
    len: u64,
    remaining: u64,
    _slot: ExportSlot,
}

impl MessageBody for SpoolBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).unwrap_or(CHUNK_BYTES).min(CHUNK_BYTES);
        let mut chunk = vec![0u8; want];
        let mut buf = ReadBuf::new(&mut chunk);
        match Pin::new(&mut this.file).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len();
                if n == 0 {
                    // The file is shorter than it was: end the body as an error, so the client
                    // never takes a cut-off document for a whole one.
                    return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())));
                }
                chunk.truncate(n);
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(Bytes::from(chunk))))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn spool_error(e: SpoolFailure) -> AppError {
    match e {
        SpoolFailure::TooLarge(_) => AppError::InsufficientStorage(e.to_string()),
        SpoolFailure::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            AppError::InsufficientStorage(io.to_string())
        }
        SpoolFailure::Io(io) => AppError::internal(io),
        SpoolFailure::Export(ExportError::Db(db)) => AppError::from(db),
        SpoolFailure::Export(other) => AppError::internal(other),
    }
}

/// Everything held about the signed-in resident, to take elsewhere: `json` (profile, sessions,
/// app tokens, staff roles, measurements, points balances and ledger, lottery entries,
/// memberships, consents with their history, access log), `fhir` (a FHIR R4 `Bundle` of type
/// `collection`: `Patient`, one `Observation` per measurement, one `Consent` per consent) or
/// `csv` (one row per measurement, one column per value field). Read from one snapshot of the
/// database into a spool file and sent from there (with its `Content-Length`). Needs a login
/// session: app tokens cannot export. An account may have `KARADA_EXPORTS_PER_ACCOUNT` exports in
/// flight (429 beyond); a client that stops reading is cut off.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The export, as an attachment",
            headers(
                ("Content-Disposition" = String, description = "attachment; filename=\"karada-export-YYYYMMDD.…\""),
                ("Content-Length" = u64, description = "The export's size in bytes")
            ),
            content(
                (ExportDocument = "application/json"),
                (Bundle = "application/fhir+json"),
                (String = "text/csv")
            )),
        (status = 400, description = "Malformed or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The account has as many exports in flight as it may", body = Problem,
            content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 507, description = "The export is larger than the server's spool limit, or its disk is full",
            body = Problem, content_type = "application/problem+json")
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
    let slot = state.exports.take(who.user_id)?;
    let pool = state.pool.clone();
    let user = who.user_id;
    let dir = state.settings.export_spool_dir.clone();
    let max = state.settings.export_max_bytes;
    let spooled = web::block(move || {
        // The account's request slot stays held while the database is read.
        let _reading = who;
        let mut conn = pool.get()?;
        export::spool(&mut conn, user, format, dir.as_deref(), max).map_err(spool_error)
    })
    .await??;
    let file = format!(
        "karada-export-{}.{}",
        chrono::Utc::now().format("%Y%m%d"),
        format.file_extension()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(SpoolBody {
            file: tokio::fs::File::from_std(spooled.file),
            len: spooled.len,
            remaining: spooled.len,
            _slot: slot,
        }))
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

impl From<ItemStatus> for ImportStatus {
    fn from(s: ItemStatus) -> Self {
        match s {
            ItemStatus::Created => ImportStatus::Created,
            ItemStatus::Duplicate => ImportStatus::Duplicate,
            ItemStatus::Invalid => ImportStatus::Invalid,
        }
    }
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
    let mapped = mapped_items(&document);
    let who_uploads = uploader(&who);
    let recorded = if mapped.is_empty() {
        Vec::new()
    } else {
        state.db(move |c| Ok(upload::import(c, &who_uploads, mapped)?)).await?
    };
    Ok(web::Json(import_response(&document, recorded)?))
}

/// The document's items whose input could be mapped, in order, with the modality they claim and
/// the id they name (the rest are reported invalid without reaching the database).
fn mapped_items(document: &import::Document) -> Vec<(MeasurementInput, Option<Modality>, Option<MeasurementId>)> {
    document
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Item(item) => item
                .input
                .as_ref()
                .ok()
                .map(|input| (input.clone(), item.modality, item.own_id())),
            Entry::Skipped(_) => None,
        })
        .collect()
}

/// The answer to an import: one result per entry of the document, in order, with the counts. A
/// document of which nothing could be imported is refused as a whole, naming every field.
fn import_response(document: &import::Document, recorded: Vec<ItemResult>) -> AppResult<ImportResponse> {
    let mut recorded = recorded.into_iter();
    let mut tally = Tally::default();
    let mut skipped = 0;
    let mut all_errors = Vec::new();
    let mut results = Vec::with_capacity(document.entries.len());
    for (index, entry) in document.entries.iter().enumerate() {
        let (status, id, resource_type, errors) = match entry {
            Entry::Skipped(kind) => {
                skipped += 1;
                (ImportStatus::Skipped, None, Some(kind.clone()), None)
            }
            Entry::Item(item) => {
                let (status, id, errors) = match &item.input {
                    Err(errors) => (ItemStatus::Invalid, None, Some(errors.clone())),
                    Ok(_) => {
                        let r = recorded
                            .next()
                            .ok_or_else(|| AppError::internal("an import item has no result"))?;
                        let (status, id, errors) = report(r, || "client_ref".to_owned());
                        // The document's own names for the fields (`valueQuantity.value` …).
                        let named = errors.map(|es| {
                            es.into_iter()
                                .map(|e| FieldError::new(item.field_name(&e.field), e.message))
                                .collect()
                        });
                        (status, id, named)
                    }
                };
                tally.count(status);
                (status.into(), id, None, errors)
            }
        };
        if let Some(e) = &errors {
            all_errors.extend(e.iter().cloned());
        }
        results.push(ImportResult {
            index,
            status,
            id,
            resource_type,
            errors,
        });
    }
    if tally.created == 0 && tally.duplicates == 0 {
        return Err(AppError::Validation(all_errors));
    }
    Ok(ImportResponse {
        created: tally.created,
        duplicates: tally.duplicates,
        invalid: tally.invalid,
        skipped,
        results,
    })
}

/// Registers the export and import routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_me).service(import_measurements);
}
