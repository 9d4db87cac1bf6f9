//! The resident's own measurements: the view of one, paged and filtered lists, the latest of each
//! type, one by id, and deleting one.

use crate::accounts::tokens::Scope;
use crate::db::{MeasurementId, Ts};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{Paged, check_limit};
use crate::measurements::catalogue::{self, TypeDef};
use crate::measurements::{self, ListCursor, ListFilter, Measurement, Uploader};
use crate::usecases::upload;
use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use crate::measurements::MeasurementView;

/// The view of a stored measurement; the vascular age gap only with the resident's birth date.
pub(crate) fn view(m: Measurement, birth_date: Option<NaiveDate>) -> MeasurementView {
    MeasurementView::of(m, birth_date)
}

/// The caller as the store sees an upload of theirs.
pub(crate) fn uploader(who: &Principal) -> Uploader {
    let (modality, default_source) = who.uploader();
    Uploader {
        user_id: who.user_id,
        modality,
        default_source,
        timezone: crate::calendar::timezone(&who.user.timezone),
        birth_date: who.user.birth_date,
        sex: who.user.sex.clone(),
        since: who.user.created_at,
    }
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
        let page = crate::http::paging::Page::<MeasurementId> { limit, after: None };
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

pub(super) fn check_type(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<&'static TypeDef> {
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
    Some((Ts::from(at), MeasurementId(uuid::Uuid::from_slice(id).ok()?)))
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
pub(super) async fn list_measurements(
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
pub(super) async fn latest_measurements(
    state: web::Data<AppState>,
    who: Principal,
) -> AppResult<web::Json<LatestView>> {
    who.require(Scope::MeasurementsRead)?;
    let (user_id, birth) = (who.user_id, who.user.birth_date);
    let rows = state.db(move |c| Ok(measurements::latest(c, user_id)?)).await?;
    Ok(web::Json(LatestView {
        items: rows.into_iter().map(|m| view(m, birth)).collect(),
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
pub(super) async fn get_measurement(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<MeasurementId>,
) -> AppResult<web::Json<MeasurementView>> {
    who.require(Scope::MeasurementsRead)?;
    let (user_id, id) = (who.user_id, path.into_inner());
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
pub(super) async fn delete_measurement(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<MeasurementId>,
) -> AppResult<HttpResponse> {
    who.require(Scope::MeasurementsWrite)?;
    let (uploader, id) = (uploader(&who), path.into_inner());
    let deleted = state.db(move |c| Ok(upload::delete(c, &uploader, id)?)).await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}
