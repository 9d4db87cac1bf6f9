//! Summaries of one measurement type over a period: statistics per field, per day, week or month.

use super::records::check_type;
use crate::accounts::tokens::Scope;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::measurements::catalogue::TypeDef;
use crate::measurements::{self, Period};
use actix_web::{get, web};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

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
pub(super) async fn summary(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<SummaryQuery>,
) -> AppResult<web::Json<SummaryView>> {
    who.require(Scope::MeasurementsRead)?;
    let q = query.into_inner();
    let (def, period, from, to) = checked_query(&q, &who.user.timezone)?;
    let user_id = who.user_id;
    let rows = state
        .db(move |c| Ok(measurements::summary(c, user_id, def, period, from, to)?))
        .await?;
    Ok(web::Json(SummaryView {
        kind: def.name.to_owned(),
        period: q.period.unwrap_or_else(|| "day".to_owned()),
        from,
        to,
        timezone: who.user.timezone.clone(),
        buckets: buckets(rows),
    }))
}

/// Checks a summary query: the type, the period (`day` by default) and the days from `from` to
/// `to` (the last 30 days up to today in `timezone` by default, at most 3,660).
fn checked_query(q: &SummaryQuery, timezone: &str) -> AppResult<(&'static TypeDef, Period, NaiveDate, NaiveDate)> {
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
    let to = to.unwrap_or_else(|| crate::calendar::today_in(timezone));
    let from = from.unwrap_or(to - Duration::days(30));
    if from > to || (to - from).num_days() > MAX_SUMMARY_DAYS {
        return Err(AppError::invalid(
            "from",
            "must be on or before `to`, at most 3,660 days before it",
        ));
    }
    Ok((def, period, from, to))
}

/// Folds the database rows (one per bucket and field; an empty field holds the bucket's count) into
/// buckets, in the order they come.
fn buckets(rows: Vec<measurements::SummaryRow>) -> Vec<Bucket> {
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
    buckets
}
