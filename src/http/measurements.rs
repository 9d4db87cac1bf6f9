//! Measurement routes: the catalogue, single and batch upload, and the resident's own reads.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::tokens::{Modality, Scope};
use crate::db::{Id, Ts};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{Paged, check_limit};
use crate::measurements::catalogue::{self, TypeDef};
use crate::measurements::{
    self, ItemResult, ListCursor, ListFilter, MAX_BATCH, Measurement, MeasurementInput, Outcome, Period, Uploader,
};

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    /// Every accepted type with its fields, units (UCUM), plausible ranges and LOINC codes.
    pub types: Vec<TypeDef>,
}

/// A stored measurement.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeasurementView {
    /// Id.
    pub id: uuid::Uuid,
    /// Type name.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// When it was measured (UTC).
    pub effective_at: DateTime<Utc>,
    /// The resident's calendar day at `effective_at`.
    pub local_date: NaiveDate,
    /// The values, as defined by the catalogue.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
    /// Device or app that produced it.
    pub source: String,
    /// The client's reference, if it gave one.
    pub client_ref: Option<String>,
    /// `sensed` (device or kiosk) or `self_reported` (typed in).
    pub modality: Modality,
    /// Free text.
    pub note: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed (a daily total replaced by a later upload).
    pub updated_at: DateTime<Utc>,
    /// `vascular_age` only: vascular age minus the resident's age on that day, in years.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vascular_age_gap: Option<f64>,
}

/// The view of a stored measurement; the vascular age gap only with the resident's birth date.
pub(crate) fn view(m: Measurement, birth_date: Option<NaiveDate>) -> MeasurementView {
    MeasurementView {
        vascular_age_gap: m.vascular_age_gap(birth_date),
        id: m.id.0,
        values: m.values(),
        kind: m.kind,
        effective_at: m.effective_at.0,
        local_date: m.local_date,
        source: m.source,
        client_ref: m.client_ref,
        modality: Modality::parse(&m.modality).unwrap_or(Modality::SelfReported),
        note: m.note,
        created_at: m.created_at.0,
        updated_at: m.updated_at.0,
    }
}

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

/// The caller as the store sees an upload of theirs.
pub(crate) fn uploader(who: &Principal) -> Uploader {
    let (modality, default_source) = who.uploader();
    Uploader {
        user_id: who.user_id,
        modality,
        default_source,
        timezone: who.user.timezone.parse().unwrap_or(chrono_tz::Asia::Tokyo),
        birth_date: who.user.birth_date,
        sex: who.user.sex.clone(),
    }
}

async fn record(
    state: &AppState,
    who: &Principal,
    inputs: Vec<Result<MeasurementInput, FieldError>>,
    prefix: fn(usize) -> String,
) -> AppResult<Vec<ItemResult>> {
    let uploader = uploader(who);
    state
        .db(move |c| Ok(measurements::record(c, &uploader, inputs, prefix)?))
        .await
}

/// The measurement catalogue.
#[utoipa::path(
    tag = "measurements",
    responses((status = 200, description = "Every measurement type", body = Catalogue))
)]
#[get("/v1/measurement-types")]
async fn measurement_types() -> web::Json<Catalogue> {
    web::Json(Catalogue {
        types: catalogue::CATALOGUE.to_vec(),
    })
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
async fn create_measurement(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<MeasurementInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::MeasurementsWrite)?;
    let recorded = record(&state, &who, vec![Ok(body.into_inner())], |_| String::new()).await?;
    let birth = who.user.birth_date;
    match recorded.into_iter().next() {
        Some(ItemResult::Invalid(errors)) => Err(AppError::Validation(errors)),
        Some(ItemResult::Done(Outcome::Created(m) | Outcome::Replaced(m))) => {
            Ok(HttpResponse::Created().json(view(m, birth)))
        }
        Some(ItemResult::Done(Outcome::Duplicate(m))) => Ok(HttpResponse::Ok().json(view(m, birth))),
        Some(ItemResult::Done(Outcome::ClientRefConflict)) => Err(AppError::Conflict(
            "client_ref already used by a different measurement from this source".to_owned(),
        )),
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
async fn create_batch(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<BatchRequest>,
) -> AppResult<web::Json<BatchResponse>> {
    who.require(Scope::MeasurementsWrite)?;
    let items = body.into_inner().items;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(AppError::invalid("items", format!("must hold 1 to {MAX_BATCH} items")));
    }
    let inputs = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            // The path names the offending field (`items[3].effective_at`) where serde knows it.
            serde_path_to_error::deserialize::<_, MeasurementInput>(v).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    format!("items[{i}]")
                } else {
                    format!("items[{i}].{path}")
                };
                FieldError::new(field, e.into_inner().to_string())
            })
        })
        .collect();
    let recorded = record(&state, &who, inputs, |i| format!("items[{i}].")).await?;
    let mut out = BatchResponse {
        created: 0,
        duplicates: 0,
        invalid: 0,
        results: Vec::new(),
    };
    for (index, r) in recorded.into_iter().enumerate() {
        let (status, id, errors) = match r {
            ItemResult::Invalid(errors) => (ItemStatus::Invalid, None, Some(errors)),
            ItemResult::Done(Outcome::Created(m) | Outcome::Replaced(m)) => (ItemStatus::Created, Some(m.id.0), None),
            ItemResult::Done(Outcome::Duplicate(m)) => (ItemStatus::Duplicate, Some(m.id.0), None),
            ItemResult::Done(Outcome::ClientRefConflict) => (
                ItemStatus::Invalid,
                None,
                Some(vec![conflict_error(format!("items[{index}].client_ref"))]),
            ),
        };
        match status {
            ItemStatus::Created => out.created += 1,
            ItemStatus::Duplicate => out.duplicates += 1,
            ItemStatus::Invalid => out.invalid += 1,
        }
        out.results.push(ItemResultView {
            index,
            status,
            id,
            errors,
        });
    }
    Ok(web::Json(out))
}

/// Query of `GET /v1/measurements`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Measured at or after this instant (RFC 3339 with offset).
    pub from: Option<String>,
    /// Measured before this instant (RFC 3339 with offset).
    pub to: Option<String>,
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of measurements.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeasurementPage {
    /// Newest first.
    pub items: Vec<MeasurementView>,
    /// Cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A checked `GET /v1/measurements`-style query.
pub(crate) struct ListRequest {
    /// The type asked for, if any.
    pub def: Option<&'static TypeDef>,
    /// Type and time filters.
    pub filter: ListFilter,
    /// Page size.
    pub limit: u32,
    /// Where the previous page ended.
    pub cursor: Option<ListCursor>,
}

impl ListQuery {
    /// Checks the query (422 naming each bad field; 400 for a malformed cursor). With
    /// `type_required`, a missing `type` is a 422 too.
    pub(crate) fn parse(self, type_required: bool) -> AppResult<ListRequest> {
        let mut errors = Vec::new();
        if type_required && self.kind.is_none() {
            errors.push(FieldError::new("type", "is required"));
        }
        let def = check_type(self.kind.as_deref(), &mut errors);
        let filter = ListFilter {
            kind: def.map(|d| d.name.to_owned()),
            from: parse_instant(self.from.as_deref(), "from", &mut errors),
            to: parse_instant(self.to.as_deref(), "to", &mut errors),
        };
        let limit = check_limit(self.limit, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let cursor = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| AppError::BadRequest("invalid cursor".to_owned()))?),
        };
        Ok(ListRequest {
            def,
            filter,
            limit,
            cursor,
        })
    }
}

impl MeasurementPage {
    /// A page from `limit + 1` rows fetched newest first.
    pub(crate) fn from_rows(limit: u32, rows: Vec<Measurement>, birth: Option<NaiveDate>) -> Self {
        let page = crate::http::paging::Page { limit, after: None };
        let paged = Paged::from_rows_with(
            page,
            rows,
            |m| encode_cursor((m.effective_at, m.id)),
            |m| view(m, birth),
        );
        MeasurementPage {
            items: paged.items,
            next_cursor: paged.next_cursor,
        }
    }
}

fn parse_instant(raw: Option<&str>, field: &str, errors: &mut Vec<FieldError>) -> Option<Ts> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Some(Ts::from(t.with_timezone(&Utc))),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 timestamp with a UTC offset",
            ));
            None
        }
    }
}

fn check_type(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<&'static TypeDef> {
    let def = catalogue::find(raw?);
    if def.is_none() {
        errors.push(FieldError::new(
            "type",
            "unknown measurement type; see GET /v1/measurement-types",
        ));
    }
    def
}

/// Keyset cursor: `effective_at` in µs and the id, hex-encoded; opaque to clients.
fn encode_cursor((at, id): ListCursor) -> String {
    let mut bytes = at.0.timestamp_micros().to_be_bytes().to_vec();
    bytes.extend_from_slice(id.0.as_bytes());
    hex::encode(bytes)
}

fn decode_cursor(raw: &str) -> Option<ListCursor> {
    let bytes = hex::decode(raw).ok()?;
    let (micros, id) = bytes.split_at_checked(8)?;
    let at = DateTime::from_timestamp_micros(i64::from_be_bytes(micros.try_into().ok()?))?;
    Some((Ts::from(at), Id(uuid::Uuid::from_slice(id).ok()?)))
}

/// The resident's measurements, newest first, with type and time filters.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = MeasurementPage),
        (status = 400, description = "Malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter or limit", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/measurements")]
async fn list_measurements(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<ListQuery>,
) -> AppResult<web::Json<MeasurementPage>> {
    who.require(Scope::MeasurementsRead)?;
    let ListRequest {
        filter, limit, cursor, ..
    } = query.into_inner().parse(false)?;
    let (user_id, birth) = (who.user_id, who.user.birth_date);
    let rows = state
        .db(move |c| Ok(measurements::list(c, user_id, &filter, cursor, i64::from(limit) + 1)?))
        .await?;
    Ok(web::Json(MeasurementPage::from_rows(limit, rows, birth)))
}

/// The newest measurement of each type.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatestView {
    /// One per type the resident has, ordered by type name.
    pub items: Vec<MeasurementView>,
}

/// The newest measurement of each type the resident has.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    responses((status = 200, description = "Newest of each type", body = LatestView))
)]
#[get("/v1/measurements/latest")]
async fn latest_measurements(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<LatestView>> {
    who.require(Scope::MeasurementsRead)?;
    let (user_id, birth) = (who.user_id, who.user.birth_date);
    let rows = state.db(move |c| Ok(measurements::latest(c, user_id)?)).await?;
    Ok(web::Json(LatestView {
        items: rows.into_iter().map(|m| view(m, birth)).collect(),
    }))
}

/// Query of `GET /v1/measurements/summary`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// The type to summarise.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: String,
    /// `day` (default), `week` (ISO, from Monday) or `month`.
    pub period: Option<String>,
    /// First local day, `YYYY-MM-DD` (default: 30 days before `to`).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last local day, inclusive (default: today in the resident's timezone).
    #[param(format = Date)]
    pub to: Option<String>,
}

/// Statistics of one field in one bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldStats {
    /// Values.
    pub count: i64,
    /// Mean.
    pub mean: Option<f64>,
    /// Smallest.
    pub min: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

/// One bucket of a summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// First local day of the bucket.
    pub start: NaiveDate,
    /// Measurements in the bucket.
    pub count: i64,
    /// Per numeric field.
    pub fields: BTreeMap<String, FieldStats>,
}

/// `GET /v1/measurements/summary` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    /// The type.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// `day`, `week` or `month`.
    pub period: String,
    /// First local day covered.
    pub from: NaiveDate,
    /// Last local day covered.
    pub to: NaiveDate,
    /// The resident's timezone, which defines the days.
    pub timezone: String,
    /// Buckets that hold measurements, oldest first.
    pub buckets: Vec<Bucket>,
}

/// Longest summary range, in days.
const MAX_SUMMARY_DAYS: i64 = 3660;

/// Count, mean, min and max per field, per day, week or month of the resident's local calendar.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "Buckets", body = SummaryView),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid type, period or dates", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/measurements/summary")]
async fn summary(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<SummaryQuery>,
) -> AppResult<web::Json<SummaryView>> {
    who.require(Scope::MeasurementsRead)?;
    let q = query.into_inner();
    let mut errors = Vec::new();
    let def = check_type(Some(&q.kind), &mut errors);
    let period = match q.period.as_deref().unwrap_or("day") {
        "day" => Some(Period::Day),
        "week" => Some(Period::Week),
        "month" => Some(Period::Month),
        _ => {
            errors.push(FieldError::new("period", "must be day, week or month"));
            None
        }
    };
    let mut date = |raw: Option<&str>, field: &str| {
        raw.and_then(|r| match NaiveDate::parse_from_str(r, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(FieldError::new(field, "must be a date YYYY-MM-DD"));
                None
            }
        })
    };
    let from = date(q.from.as_deref(), "from");
    let to = date(q.to.as_deref(), "to");
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let (Some(def), Some(period)) = (def, period) else {
        return Err(AppError::internal("validated summary query incomplete"));
    };
    let user_id = who.user_id;
    let to = to.unwrap_or_else(|| crate::accounts::local_today(&who.user.timezone));
    let from = from.unwrap_or(to - Duration::days(30));
    if from > to || (to - from).num_days() > MAX_SUMMARY_DAYS {
        return Err(AppError::invalid(
            "from",
            "must be on or before `to`, at most 3,660 days before it",
        ));
    }
    let rows = state
        .db(move |c| Ok(measurements::summary(c, user_id, def, period, from, to)?))
        .await?;
    let tz = who.user.timezone.clone();
    let mut buckets: Vec<Bucket> = Vec::new();
    for r in rows {
        if buckets.last().is_none_or(|b| b.start != r.bucket) {
            buckets.push(Bucket {
                start: r.bucket,
                count: 0,
                fields: BTreeMap::new(),
            });
        }
        let Some(b) = buckets.last_mut() else { continue };
        if r.field.is_empty() {
            b.count = r.n;
        } else {
            b.fields.insert(
                r.field,
                FieldStats {
                    count: r.n,
                    mean: r.mean,
                    min: r.min,
                    max: r.max,
                },
            );
        }
    }
    Ok(web::Json(SummaryView {
        kind: def.name.to_owned(),
        period: q.period.unwrap_or_else(|| "day".to_owned()),
        from,
        to,
        timezone: tz,
        buckets,
    }))
}

/// One of the resident's measurements.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Measurement id")),
    responses(
        (status = 200, description = "The measurement", body = MeasurementView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such measurement of the caller's", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/measurements/{id}")]
async fn get_measurement(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<MeasurementView>> {
    who.require(Scope::MeasurementsRead)?;
    let (user_id, id) = (who.user_id, Id(path.into_inner()));
    let m = state.db(move |c| Ok(measurements::find(c, user_id, id)?)).await?;
    Ok(web::Json(view(m, who.user.birth_date)))
}

/// Deletes one of the resident's measurements.
#[utoipa::path(
    tag = "measurements",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Measurement id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such measurement of the caller's", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/measurements/{id}")]
async fn delete_measurement(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    who.require(Scope::MeasurementsWrite)?;
    let (user_id, id) = (who.user_id, Id(path.into_inner()));
    let subject = crate::aggregates::rollup::Subject {
        user_id,
        birth_date: who.user.birth_date,
        sex: who.user.sex.clone(),
    };
    let deleted = state.tx(move |c| Ok(measurements::delete(c, &subject, id)?)).await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

/// Registers the measurement routes (fixed paths before `{id}`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(measurement_types)
        .service(create_measurement)
        .service(create_batch)
        .service(list_measurements)
        .service(latest_measurements)
        .service(summary)
        .service(get_measurement)
        .service(delete_measurement);
}
