//! Aggregate routes for an organisation's analysts: statistics released under the organisation's
//! privacy policy (differential privacy by default), programme statistics, and the organisation's
//! own audit of both. The release itself is a use case (`crate::usecases::release`).

use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::aggregates::answer::{AggregateAnswer, ProgramStatsAnswer};
use crate::aggregates::audit;
use crate::aggregates::query::{Dim, Request, Stat};
use crate::db::OrgId;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::measurements::catalogue;
use crate::sharing::StaffRole;
use crate::usecases::release::{self, Asker};

/// A grouping dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DimName {
    /// 10-year age band on the measurement's day (`40-49`, or `unknown`).
    AgeBand,
    /// Sex.
    Sex,
    /// Calendar month (`2026-04`).
    Month,
}

/// A statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatName {
    /// Number of measurements (differential privacy: each person's capped at 31 a month).
    Count,
    /// Mean (differential privacy: of the people's own means, clamped to the field's bounds).
    Mean,
    /// Sample standard deviation (differential privacy: of the people's own means).
    Stddev,
    /// 10th percentile (exact mode: within 1/200 of the field's plausible range; differential
    /// privacy: of the people's own means, within 1/40 of the field's bounds plus the noise).
    P10,
    /// Median (same bounds).
    P50,
    /// 90th percentile (same bounds).
    P90,
}

impl StatName {
    fn stat(self) -> Stat {
        match self {
            StatName::Count => Stat::Count,
            StatName::Mean => Stat::Mean,
            StatName::Stddev => Stat::Stddev,
            StatName::P10 => Stat::P10,
            StatName::P50 => Stat::P50,
            StatName::P90 => Stat::P90,
        }
    }
}

/// `POST /v1/orgs/{org_id}/aggregates` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateInput {
    /// Measurement type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A numeric field of the type (e.g. `kg`, `systolic_mmhg`, `count`).
    pub field: String,
    /// First day: the answer covers whole calendar months, from the month of `from`.
    pub from: NaiveDate,
    /// Last day: the answer covers whole months, through the month of `to`.
    pub to: NaiveDate,
    /// Grouping (default: none, one group).
    #[serde(default)]
    pub group_by: Vec<DimName>,
    /// Statistics (default `count` and `mean`).
    #[serde(default)]
    pub stats: Vec<StatName>,
    /// Differential privacy: the release's epsilon, 0.05–2 (default 0.5), charged to the
    /// organisation's budget for the calendar year (409 `privacy-budget-exhausted` once it cannot
    /// cover it, with or without this field). Refused (422) for an organisation in exact mode.
    #[schema(minimum = 0.05, maximum = 2)]
    pub epsilon: Option<f64>,
}

/// The default statistics.
const DEFAULT_STATS: [StatName; 2] = [StatName::Count, StatName::Mean];

/// Checks a request: the query to answer and its epsilon.
fn check(input: &AggregateInput) -> AppResult<Request> {
    let mut errors = Vec::new();
    let kind = catalogue::find(&input.kind);
    if kind.is_none() {
        errors.push(FieldError::new(
            "type",
            "unknown measurement type; see GET /v1/measurement-types",
        ));
    }
    let field = kind.and_then(|k| k.numeric_fields().find(|f| f.name == input.field));
    if kind.is_some() && field.is_none() {
        errors.push(FieldError::new("field", "must be a numeric field of the type"));
    }
    let period = crate::aggregates::whole_months(input.from, input.to)
        .map_err(|e| errors.push(e))
        .ok();
    let mut group_by = Vec::new();
    for d in &input.group_by {
        let dim = match d {
            DimName::AgeBand => Dim::AgeBand,
            DimName::Sex => Dim::Sex,
            DimName::Month => Dim::Month,
        };
        if group_by.contains(&dim) {
            errors.push(FieldError::new("group_by", "names a dimension twice"));
        }
        group_by.push(dim);
    }
    let names = if input.stats.is_empty() {
        DEFAULT_STATS.to_vec()
    } else {
        input.stats.clone()
    };
    let mut stats = Vec::new();
    for s in &names {
        if stats.contains(&s.stat()) {
            errors.push(FieldError::new("stats", "names a statistic twice"));
        }
        stats.push(s.stat());
    }
    if let Some(e) = input.epsilon.and_then(crate::privacy::validate_epsilon) {
        errors.push(e);
    }
    match (kind, field, period) {
        (Some(kind), Some(field), Some((from, to))) if errors.is_empty() => Ok(Request {
            kind,
            field,
            from,
            to,
            group_by,
            stats,
        }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Statistics over the organisation's consenting members (its analysts), released under the
/// organisation's privacy policy. Only members with a consent in force covering the type count,
/// and only their data from each consent's first day (`data_from`).
///
/// **Differential privacy** (the default): every key of the grouping's domain is listed; each
/// person counts once (per month when grouped by month) with their own mean clamped to the
/// field's published bounds; noise is added to every figure and a group is published only when
/// its noisy people count clears `privacy.mechanism.publish_threshold`. The release costs
/// `epsilon` (default 0.5) of the organisation's budget for the calendar year, charged before it
/// is computed; the same request again this year is answered from the stored release at no
/// charge (`privacy.reused`). **Exact** mode (set by an operator): v1's k-anonymous answer —
/// cells (month × age band × sex) of fewer than `k_min` people dropped before groups are combined.
/// Every answer is recorded in the organisation's audit and, as a release, in the privacy ledger
/// of every resident it could include.
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = AggregateInput,
    responses(
        (status = 200, description = "The answer", body = AggregateAnswer),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This year's privacy budget cannot cover the release (`privacy-budget-exhausted`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (or `epsilon` for an organisation in exact mode)", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/orgs/{org_id}/aggregates")]
async fn aggregate(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<OrgId>,
    body: web::Json<AggregateInput>,
) -> AppResult<web::Json<AggregateAnswer>> {
    let org = path.into_inner();
    who.require_staff(org, StaffRole::Analyst)?;
    let input = body.into_inner();
    let req = check(&input)?;
    let received = serde_json::to_value(&input).map_err(AppError::internal)?;
    let asker = Asker {
        organization_id: org,
        actor: who.user_id,
        k_min: state.settings.k_min,
    };
    let answer = state
        .db(move |c| release::aggregate(c, asker, req, input.epsilon, received))
        .await?;
    Ok(web::Json(answer))
}

/// Query of `GET /v1/orgs/{org_id}/program-stats`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProgramStatsQuery {
    /// First day (widened to its month's first day).
    pub from: NaiveDate,
    /// Last day (widened to its month's last day).
    pub to: NaiveDate,
    /// Differential privacy: the release's epsilon, 0.05–2 (default 0.5). Refused (422) for an
    /// organisation in exact mode.
    #[param(minimum = 0.05, maximum = 2)]
    pub epsilon: Option<f64>,
}

/// Programme statistics for the organisation's analysts and org admins, released under the
/// organisation's privacy policy like aggregates: under differential privacy each figure is noisy
/// (with its 95% margin) and published only when the noisy count of the people behind it clears
/// the threshold; in exact mode under the k-anonymity rule. Recorded in the organisation's audit.
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id"), ProgramStatsQuery),
    responses(
        (status = 200, description = "The statistics", body = ProgramStatsAnswer),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This year's privacy budget cannot cover the release (`privacy-budget-exhausted`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period or epsilon", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/orgs/{org_id}/program-stats")]
async fn program_stats(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<OrgId>,
    query: web::Query<ProgramStatsQuery>,
) -> AppResult<web::Json<ProgramStatsAnswer>> {
    let org = path.into_inner();
    who.require_any_staff(org, &[StaffRole::OrgAdmin, StaffRole::Analyst])?;
    let q = query.into_inner();
    let (from, to) = crate::aggregates::whole_months(q.from, q.to).map_err(|e| AppError::Validation(vec![e]))?;
    if let Some(e) = q.epsilon.and_then(crate::privacy::validate_epsilon) {
        return Err(AppError::Validation(vec![e]));
    }
    let asker = Asker {
        organization_id: org,
        actor: who.user_id,
        k_min: state.settings.k_min,
    };
    let answer = state
        .db(move |c| release::program_stats(c, asker, from, to, q.epsilon))
        .await?;
    Ok(web::Json(answer))
}

/// One recorded aggregate query.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Entry id.
    pub id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who ran it (email; null once that account is erased).
    pub actor: Option<String>,
    /// `aggregate` or `program_stats`.
    pub query: String,
    /// The request.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// Epsilon charged (null in exact mode and when a stored release answered it).
    pub epsilon: Option<f64>,
    /// Groups (or figures) published.
    pub groups: i32,
    /// Groups (or figures) suppressed.
    pub suppressed: i32,
}

/// The organisation's audit of its aggregate queries, newest first (org admins and analysts).
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id"), PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<AuditView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/orgs/{org_id}/aggregate-log")]
async fn aggregate_log(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<OrgId>,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<AuditView>>> {
    let org = path.into_inner();
    who.require_any_staff(org, &[StaffRole::OrgAdmin, StaffRole::Analyst])?;
    let page = query.page()?;
    let rows = state
        .db(move |c| Ok(audit::list(c, org, page.after, PageQuery::fetch(page))?))
        .await?;
    Ok(web::Json(Paged::from_rows(
        page,
        rows,
        |r| r.0.id,
        |(e, actor)| AuditView {
            id: e.id.0,
            at: e.created_at.0,
            actor,
            query: e.query,
            request: e.request.0,
            epsilon: e.epsilon,
            groups: e.groups,
            suppressed: e.suppressed,
        },
    )))
}

/// Registers the aggregate routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(aggregate).service(program_stats).service(aggregate_log);
}
