//! Uploading measurements: one at a time or in batches, with a status per batch item and the tally
//! the import route shares.

use super::records::{MeasurementView, uploader, view};
use crate::accounts::tokens::Scope;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::measurements::{ItemResult, MAX_BATCH, MeasurementInput, Outcome};
use crate::usecases::upload;
use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /v1/measurements/batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1–1,000 measurements; each is validated on its own.
    #[schema(value_type = Vec<MeasurementInput>, min_items = 1, max_items = 1000)]
    pub items: Vec<Value>,
}

/// What happened to one item of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Stored (for a daily total: stored or replaced that day's value).
    Created,
    /// Already stored: nothing written (a retry, or a daily total older than the stored one).
    Duplicate,
    /// Refused; `errors` says why.
    Invalid,
}

/// One item's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResultView {
    /// Position in `items`.
    pub index: usize,
    /// Outcome.
    pub status: ItemStatus,
    /// The stored measurement's id (created or duplicate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<uuid::Uuid>,
    /// For invalid items: each offending field, named `items[i].…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// `POST /v1/measurements/batch` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// Items stored.
    pub created: usize,
    /// Items already stored.
    pub duplicates: usize,
    /// Items refused.
    pub invalid: usize,
    /// One result per item, in order.
    pub results: Vec<ItemResultView>,
}

pub(crate) fn conflict_error(field: String) -> FieldError {
    FieldError::new(field, "already used by a different measurement from this source")
}

async fn record(
    state: &AppState,
    who: &Principal,
    inputs: Vec<Result<MeasurementInput, FieldError>>,
    prefix: fn(usize) -> String,
) -> AppResult<Vec<ItemResult>> {
    let uploader = uploader(who);
    state
        .db(move |c| Ok(upload::record(c, &uploader, inputs, prefix)?))
        .await
}

/// How an item of a batch or an import is reported: its status, the stored measurement's id,
/// and its errors (a client reference already used by another measurement is an error on the
/// item's `client_ref`, named by `client_ref_field`).
pub(crate) fn report(
    r: ItemResult,
    client_ref_field: impl FnOnce() -> String,
) -> (ItemStatus, Option<uuid::Uuid>, Option<Vec<FieldError>>) {
    match r {
        ItemResult::Invalid(errors) => (ItemStatus::Invalid, None, Some(errors)),
        ItemResult::Done(Outcome::ClientRefConflict) => (
            ItemStatus::Invalid,
            None,
            Some(vec![conflict_error(client_ref_field())]),
        ),
        ItemResult::Done(o) => {
            let status = if o.written().is_some() {
                ItemStatus::Created
            } else {
                ItemStatus::Duplicate
            };
            (status, o.row().map(|m| m.id.0), None)
        }
    }
}

/// Items created, already stored and refused, as a batch or an import reports them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) created: usize,
    pub(crate) duplicates: usize,
    pub(crate) invalid: usize,
}

impl Tally {
    pub(crate) fn count(&mut self, status: ItemStatus) {
        match status {
            ItemStatus::Created => self.created += 1,
            ItemStatus::Duplicate => self.duplicates += 1,
            ItemStatus::Invalid => self.invalid += 1,
        }
    }
}

/// Uploads one measurement. A retry with the same `source` and `client_ref` answers 200 with the
/// stored measurement; a `steps` upload replaces the day's total for that source (201).
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    request_body = MeasurementInput,
    responses(
        (status = 201, description = "Stored", body = MeasurementView),
        (status = 200, description = "Already stored (idempotent retry, or an older daily total)", body = MeasurementView),
        (status = 409, description = "client_ref already used by a different measurement", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/measurements")]
pub(super) async fn create_measurement(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<MeasurementInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::MeasurementsWrite)?;
    let recorded = record(&state, &who, vec![Ok(body.into_inner())], |_| String::new()).await?;
    let birth = who.user.birth_date;
    match recorded.into_iter().next() {
        Some(ItemResult::Invalid(errors)) => Err(AppError::Validation(errors)),
        Some(ItemResult::Done(Outcome::ClientRefConflict)) => Err(AppError::Conflict(
            "client_ref already used by a different measurement from this source".to_owned(),
        )),
        Some(ItemResult::Done(Outcome::Duplicate(m))) => Ok(HttpResponse::Ok().json(view(m, birth))),
        Some(ItemResult::Done(Outcome::Created(m) | Outcome::Replaced { row: m, .. })) => {
            Ok(HttpResponse::Created().json(view(m, birth)))
        }
        None => Err(AppError::internal("upload produced no result")),
    }
}

/// Uploads up to 1,000 measurements in one transaction; one bad item never blocks the others.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Per-item results", body = BatchResponse),
        (status = 422, description = "Empty batch or more than 1,000 items", body = Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/v1/measurements/batch")]
pub(super) async fn create_batch(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<BatchRequest>,
) -> AppResult<web::Json<BatchResponse>> {
    who.require(Scope::MeasurementsWrite)?;
    let items = body.into_inner().items;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(AppError::invalid("items", format!("must hold 1 to {MAX_BATCH} items")));
    }
    let inputs = items.into_iter().enumerate().map(|(i, v)| batch_item(i, v)).collect();
    let recorded = record(&state, &who, inputs, |i| format!("items[{i}].")).await?;
    let mut tally = Tally::default();
    let results = recorded
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let (status, id, errors) = report(r, || format!("items[{index}].client_ref"));
            tally.count(status);
            ItemResultView {
                index,
                status,
                id,
                errors,
            }
        })
        .collect();
    Ok(web::Json(BatchResponse {
        created: tally.created,
        duplicates: tally.duplicates,
        invalid: tally.invalid,
        results,
    }))
}

/// One batch item parsed on its own; the error names the offending field by its path
/// (`items[3].effective_at`) where serde knows it.
fn batch_item(i: usize, v: serde_json::Value) -> Result<MeasurementInput, FieldError> {
    serde_path_to_error::deserialize::<_, MeasurementInput>(v).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            format!("items[{i}]")
        } else {
            format!("items[{i}].{path}")
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}
