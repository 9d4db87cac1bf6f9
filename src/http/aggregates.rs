//! Aggregate routes for an organisation's analysts: k-anonymous statistics, programme statistics
//! and the organisation's own audit of both.

use std::collections::BTreeMap;

use actix_web::{get, post, web};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::aggregates::audit::{self, AuditEntry};
use crate::aggregates::privacy::{self, Figures, Plan};
use crate::aggregates::program::{self, Figure};
use crate::aggregates::query::{self, Dim, Request, Stat};
use crate::db::types::Json;
use crate::db::{Id, Ts};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::measurements::catalogue;
use crate::sharing::StaffRole;

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
    /// Number of measurements.
    Count,
    /// Mean.
    Mean,
    /// Sample standard deviation.
    Stddev,
    /// 10th percentile (within 1/200 of the field's plausible range).
    P10,
    /// Median (same bound).
    P50,
    /// 90th percentile (same bound).
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

    fn name(self) -> &'static str {
        match self {
            StatName::Count => "count",
            StatName::Mean => "mean",
            StatName::Stddev => "stddev",
            StatName::P10 => "p10",
            StatName::P50 => "p50",
            StatName::P90 => "p90",
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
    /// Differential privacy: release every published figure with Laplace noise so that the
    /// answer as a whole is `epsilon`-differentially private (0.01–10), charged to the
    /// organisation's privacy budget (409 `privacy-budget-exhausted` once it cannot cover it).
    /// Suppression of small cells is decided as without it. See `noise` in the answer.
    #[schema(minimum = 0.01, maximum = 10)]
    pub epsilon: Option<f64>,
}

/// A group's key: the grouped dimensions only.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Age band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_band: Option<String>,
    /// Sex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// Month, `YYYY-MM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
}

/// One group: published (`people`, `measurements`, `stats`) or `suppressed: true`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// The group.
    pub key: KeyView,
    /// Distinct people behind the published figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people: Option<i64>,
    /// Measurements behind them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurements: Option<i64>,
    /// The requested statistics (null where undefined, e.g. a stddev of one value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<BTreeMap<String, Option<f64>>>,
    /// Present and true when no cell of the group has `k_min` people.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// An aggregate answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AggregateView {
    /// Fewest distinct people in any cell used.
    pub k_min: u32,
    /// First day covered (the first of `from`'s month).
    pub from: NaiveDate,
    /// Last day covered (the last of `to`'s month).
    pub to: NaiveDate,
    /// Groups in key order: every group with any consenting data.
    pub groups: Vec<GroupView>,
    /// Present when the request carried `epsilon`: how the figures were noised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<NoiseView>,
}

/// How a differentially private answer was noised.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoiseView {
    /// Epsilon of the whole answer, charged to the organisation's budget.
    pub epsilon: f64,
    /// Budget left after this answer.
    pub budget_left: f64,
    /// Most measurements one person's month (in one age band) contributes; months with more
    /// are scaled down to this many, their mean kept. `measurements` and `count` are of these
    /// bounded contributions.
    pub cap_per_person_month: i64,
    /// The Laplace scale of each noised quantity (`people`, `measurements`, `sum`,
    /// `sum_of_squares`, `histogram`): its L1 sensitivity ÷ its equal share of epsilon.
    pub laplace_scale: BTreeMap<String, f64>,
}

/// The default statistics.
const DEFAULT_STATS: [StatName; 2] = [StatName::Count, StatName::Mean];

/// Checks a request; answers the query and the statistic names to report, in request order.
fn check(input: &AggregateInput) -> AppResult<(Request, Vec<StatName>)> {
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
    if let Some(e) = input.epsilon.and_then(privacy::validate_epsilon) {
        errors.push(e);
    }
    match (kind, field, period) {
        (Some(kind), Some(field), Some((from, to))) if errors.is_empty() => Ok((
            Request {
                kind,
                field,
                from,
                to,
                group_by,
                stats,
            },
            names,
        )),
        _ => Err(AppError::Validation(errors)),
    }
}

fn last_day(month: NaiveDate) -> NaiveDate {
    month
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(month)
}

/// k-anonymous statistics over the organisation's consenting members (its analysts). Only
/// members with a consent in force covering the type count; cells (month × age band × sex) of
/// fewer than `k_min` people are dropped before groups are combined. The query is recorded in
/// the organisation's audit.
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = AggregateInput,
    responses(
        (status = 200, description = "The answer", body = AggregateView),
        (status = 409, description = "The privacy budget cannot cover `epsilon` (`privacy-budget-exhausted`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/orgs/{org_id}/aggregates")]
async fn aggregate(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
    body: web::Json<AggregateInput>,
) -> AppResult<web::Json<AggregateView>> {
    let org = Id(path.into_inner());
    who.require_staff(org, StaffRole::Analyst)?;
    let input = body.into_inner();
    let (req, names) = check(&input)?;
    let k_min = state.settings.k_min;
    let actor = who.user_id;
    let request_json = serde_json::to_value(&input).map_err(AppError::internal)?;
    // Every numeric field of the catalogue has a plausible range, so a plan always exists.
    let plan = match input.epsilon {
        Some(e) => Some(Plan::new(&req, e).ok_or_else(|| AppError::invalid("field", "has no plausible range"))?),
        None => None,
    };
    // The budget is charged first, in a transaction of its own: the answer's transaction reads
    // one snapshot (repeatable read on PostgreSQL), where two queries charging the same
    // organisation would fail each other's update instead of taking turns. An answer that fails
    // after the charge is not refunded, which errs on the side of privacy.
    let budget_left = match &plan {
        Some(p) => {
            let epsilon = p.epsilon;
            Some(state.tx(move |c| spend(c, org, epsilon)).await?)
        }
        None => None,
    };
    let (req, groups, noise) = state
        .tx(move |c| {
            query::snapshot(c)?;
            let now = Ts::now();
            let answer = query::run(c, org, &req, i64::from(k_min), now)?;
            let groups = match &plan {
                None => answer
                    .groups
                    .iter()
                    .map(|(k, g)| (k.clone(), g.as_ref().map(|g| privacy::exact(&req, g))))
                    .collect(),
                Some(p) => {
                    let bounded = privacy::bounded(c, org, &req, p, i64::from(k_min), now)?;
                    privacy::release(&req, p, &answer, &bounded).map_err(AppError::internal)?
                }
            };
            let noise = plan.as_ref().zip(budget_left).map(|(p, left)| NoiseView {
                epsilon: p.epsilon,
                budget_left: left,
                cap_per_person_month: privacy::CAP_PER_ROW,
                laplace_scale: p
                    .parts
                    .iter()
                    .map(|(q, _, scale)| (q.name().to_owned(), *scale))
                    .collect(),
            });
            let published = answer.groups.iter().filter(|(_, g)| g.is_some()).count();
            audit::record(
                c,
                &AuditEntry {
                    id: Id::new(),
                    organization_id: org,
                    actor_id: Some(actor),
                    query: "aggregate".to_owned(),
                    request: Json(request_json),
                    epsilon: plan.as_ref().map(|p| p.epsilon),
                    groups: i32::try_from(published).unwrap_or(i32::MAX),
                    suppressed: i32::try_from(answer.groups.len() - published).unwrap_or(i32::MAX),
                    created_at: now,
                },
            )?;
            Ok((req, groups, noise))
        })
        .await?;
    let groups = groups
        .into_iter()
        .map(|(k, g)| {
            let key = KeyView {
                age_band: k.age_band,
                sex: k.sex,
                month: k.month.map(|m| format!("{:04}-{:02}", m.year(), m.month())),
            };
            match g {
                None => GroupView {
                    key,
                    people: None,
                    measurements: None,
                    stats: None,
                    suppressed: true,
                },
                Some(Figures {
                    people,
                    measurements,
                    stats,
                }) => GroupView {
                    key,
                    people: Some(people),
                    measurements: Some(measurements),
                    stats: Some(
                        names
                            .iter()
                            .map(|n| {
                                let v = stats.iter().find(|(s, _)| *s == n.stat()).and_then(|(_, v)| *v);
                                (n.name().to_owned(), v)
                            })
                            .collect(),
                    ),
                    suppressed: false,
                },
            }
        })
        .collect();
    Ok(web::Json(AggregateView {
        k_min,
        from: req.from,
        to: last_day(req.to),
        groups,
        noise,
    }))
}

/// Charges `epsilon` to the organisation's privacy budget (its own transaction); answers what is
/// left.
fn spend(c: &mut crate::db::DbConn, org: Id, epsilon: f64) -> AppResult<f64> {
    if !privacy::charge(c, org, epsilon)? {
        return Err(AppError::StateConflict {
            slug: "privacy-budget-exhausted",
            detail: "the organisation's privacy budget cannot cover this epsilon".to_owned(),
        });
    }
    let o = crate::sharing::orgs::find(c, org)?.ok_or(AppError::NotFound)?;
    Ok((o.privacy_budget - o.privacy_spent).max(0.0))
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
}

/// A figure: its value, or `suppressed: true` when fewer than `k_min` people stand behind it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FigureView {
    /// The value (null when suppressed).
    pub value: Option<f64>,
    /// Whether it is suppressed.
    pub suppressed: bool,
}

impl From<Figure> for FigureView {
    fn from(f: Figure) -> Self {
        match f {
            Figure::Value(v) => FigureView {
                value: Some(v),
                suppressed: false,
            },
            Figure::Suppressed => FigureView {
                value: None,
                suppressed: true,
            },
        }
    }
}

/// Programme statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramStatsView {
    /// Fewest people behind any published figure or cell.
    pub k_min: u32,
    /// First day covered.
    pub from: NaiveDate,
    /// Last day covered.
    pub to: NaiveDate,
    /// Current members.
    pub members: FigureView,
    /// Current members with a consent in force.
    pub consenting: FigureView,
    /// Consenting members who measured a consented type in the period.
    pub active_residents: FigureView,
    /// Mean daily steps of members consenting to `steps` (publishable cells only).
    pub mean_daily_steps: FigureView,
    /// Points earned in the period by members whose consent includes points (publishable cells only).
    pub points_earned: FigureView,
}

/// Programme statistics for the organisation's analysts and org admins, under the same
/// k-anonymity rule as aggregates; recorded in the organisation's audit.
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id"), ProgramStatsQuery),
    responses(
        (status = 200, description = "The statistics", body = ProgramStatsView),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/orgs/{org_id}/program-stats")]
async fn program_stats(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
    query: web::Query<ProgramStatsQuery>,
) -> AppResult<web::Json<ProgramStatsView>> {
    let org = Id(path.into_inner());
    who.require_any_staff(org, &[StaffRole::OrgAdmin, StaffRole::Analyst])?;
    let q = query.into_inner();
    let (from, to) = crate::aggregates::whole_months(q.from, q.to).map_err(|e| AppError::Validation(vec![e]))?;
    let k_min = state.settings.k_min;
    let actor = who.user_id;
    let stats = state
        .tx(move |c| {
            query::snapshot(c)?;
            let now = Ts::now();
            let stats = program::compute(c, org, from, to, i64::from(k_min), now)?;
            let figures = [
                stats.members,
                stats.consenting,
                stats.active_residents,
                stats.mean_daily_steps,
                stats.points_earned,
            ];
            let suppressed = figures.iter().filter(|f| **f == Figure::Suppressed).count();
            audit::record(
                c,
                &AuditEntry {
                    id: Id::new(),
                    organization_id: org,
                    actor_id: Some(actor),
                    query: "program_stats".to_owned(),
                    request: Json(serde_json::json!({ "from": from, "to": last_day(to) })),
                    epsilon: None,
                    groups: i32::try_from(figures.len() - suppressed).unwrap_or(0),
                    suppressed: i32::try_from(suppressed).unwrap_or(0),
                    created_at: now,
                },
            )?;
            Ok(stats)
        })
        .await?;
    Ok(web::Json(ProgramStatsView {
        k_min,
        from,
        to: last_day(to),
        members: stats.members.into(),
        consenting: stats.consenting.into(),
        active_residents: stats.active_residents.into(),
        mean_daily_steps: stats.mean_daily_steps.into(),
        points_earned: stats.points_earned.into(),
    }))
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
    /// Epsilon charged.
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
    path: web::Path<uuid::Uuid>,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<AuditView>>> {
    let org = Id(path.into_inner());
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
