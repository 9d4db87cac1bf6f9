//! Privacy routes: an organisation's privacy policy (operators), and the resident's privacy
//! ledger of every release that could include them.

use actix_web::{get, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::tokens::Scope;
use crate::db::{OrgId, Ts};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::{Operator, Principal};
use crate::http::paging::{PageQuery, Paged};
use crate::privacy::releases::Statistic;
use crate::privacy::{Mode, budget, ledger, policy};

/// `PUT /v1/admin/organizations/{org_id}/privacy` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// How the organisation's statistics are released.
    pub mode: Mode,
    /// Epsilon per calendar year, 0–1000 (default: unchanged).
    #[schema(minimum = 0, maximum = 1000)]
    pub epsilon_per_year: Option<f64>,
    /// Why (1–500 characters): required for `exact` mode and for any increase of the budget.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// A recorded change of the policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyChangeView {
    /// Change id.
    pub id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// The operator (null once that account is erased).
    pub actor_id: Option<uuid::Uuid>,
    /// Mode before.
    pub mode_before: Mode,
    /// Mode after.
    pub mode_after: Mode,
    /// Budget per year before.
    pub epsilon_before: f64,
    /// Budget per year after.
    pub epsilon_after: f64,
    /// Why.
    pub reason: Option<String>,
}

/// An organisation's privacy policy, this year's spending, and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// The organisation.
    pub organization_id: uuid::Uuid,
    /// How its statistics are released.
    pub mode: Mode,
    /// Epsilon per calendar year.
    pub epsilon_per_year: f64,
    /// The calendar year (in Japan) below.
    pub year: i32,
    /// Epsilon spent this year.
    pub spent: f64,
    /// What is left this year.
    pub remaining: f64,
    /// Every change, newest first (at most 100).
    pub changes: Vec<PolicyChangeView>,
}

fn change_view(c: policy::Change) -> PolicyChangeView {
    PolicyChangeView {
        id: c.id.0,
        at: c.created_at.0,
        actor_id: c.actor_id.map(|a| a.0),
        mode_before: Mode::from_stored(&c.mode_before),
        mode_after: Mode::from_stored(&c.mode_after),
        epsilon_before: c.epsilon_before,
        epsilon_after: c.epsilon_after,
        reason: c.reason,
    }
}

/// The policy view of an organisation, `None` when there is none.
fn policy_view(c: &mut crate::db::DbConn, org: OrgId) -> AppResult<PolicyView> {
    let p = policy::find(c, org)?.ok_or(AppError::NotFound)?;
    let year = crate::privacy::budget_year(Ts::now());
    let spent = budget::spent(c, org, year)?;
    Ok(PolicyView {
        organization_id: org.0,
        mode: p.mode,
        epsilon_per_year: p.epsilon_per_year,
        year,
        spent,
        remaining: (p.epsilon_per_year - spent).max(0.0),
        changes: policy::changes(c, org, 100)?.into_iter().map(change_view).collect(),
    })
}

/// An organisation's privacy policy, what it spent this year, and every change (operators).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The policy", body = PolicyView),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/organizations/{org_id}/privacy")]
async fn get_policy(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<OrgId>,
) -> AppResult<web::Json<PolicyView>> {
    let org = path.into_inner();
    Ok(web::Json(state.db(move |c| policy_view(c, org)).await?))
}

/// Sets an organisation's privacy policy (operators). `exact` mode gives up differential
/// privacy for v1's k-anonymous answers: it needs a reason, as does any increase of the budget.
/// Every change is recorded with the operator, the time, both policies and the reason, and
/// residents see the mode on their consents and receipts.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = PolicyInput,
    responses(
        (status = 200, description = "Set", body = PolicyView),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or no reason for exact mode or a larger budget", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/v1/admin/organizations/{org_id}/privacy")]
async fn set_policy(
    state: web::Data<AppState>,
    Operator(who): Operator,
    path: web::Path<OrgId>,
    body: web::Json<PolicyInput>,
) -> AppResult<web::Json<PolicyView>> {
    let (org, actor, input) = (path.into_inner(), who.user_id, body.into_inner());
    let view = state
        .tx(move |c| {
            let old = policy::find(c, org)?.ok_or(AppError::NotFound)?;
            let new = policy::Policy {
                mode: input.mode,
                epsilon_per_year: input.epsilon_per_year.unwrap_or(old.epsilon_per_year),
            };
            let reason = policy::validate(old, new, input.reason.as_deref()).map_err(AppError::Validation)?;
            policy::set(c, org, actor, new, reason)?.ok_or(AppError::NotFound)?;
            policy_view(c, org)
        })
        .await?;
    Ok(web::Json(view))
}

/// The period a release covered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

/// One release that could include the resident.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrivacyLedgerItem {
    /// The release.
    pub release_id: uuid::Uuid,
    /// The organisation it went to.
    pub organization_id: uuid::Uuid,
    /// Its name.
    pub organization_name: String,
    /// Which statistic.
    pub statistic: Statistic,
    /// The measurement type it was about (absent for programme statistics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_type: Option<String>,
    /// The data period it covered.
    pub period: PeriodView,
    /// How it was released.
    pub mode: Mode,
    /// Its epsilon: what it cost the resident's privacy (null in exact mode, which has no bound).
    pub epsilon: Option<f64>,
    /// When.
    pub released_at: DateTime<Utc>,
}

/// Every release of statistics to an organisation that could include the resident, newest
/// first: releases about a type while a consent of theirs to that organisation covered it (from a
/// day no later than the release's last month), and programme statistics while they were a
/// member. Each with its epsilon, so the resident can add up what their privacy was charged.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<PrivacyLedgerItem>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/privacy-ledger")]
async fn privacy_ledger(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<PrivacyLedgerItem>>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let user = who.user_id;
    let rows = state
        .db(move |c| Ok(ledger::for_resident(c, user, page.after, PageQuery::fetch(page))?))
        .await?;
    Ok(web::Json(Paged::from_rows(
        page,
        rows,
        |e| e.id,
        |e| PrivacyLedgerItem {
            release_id: e.id.0,
            organization_id: e.organization_id.0,
            organization_name: e.organization_name,
            statistic: Statistic::from_stored(&e.statistic).unwrap_or(Statistic::Aggregate),
            measurement_type: e.measurement_type,
            period: PeriodView {
                from: e.period_from,
                to: e
                    .period_to
                    .checked_add_months(chrono::Months::new(1))
                    .and_then(|d| d.pred_opt())
                    .unwrap_or(e.period_to),
            },
            mode: Mode::from_stored(&e.mode),
            epsilon: e.epsilon,
            released_at: e.released_at.0,
        },
    )))
}

/// Registers the privacy routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_policy).service(set_policy).service(privacy_ledger);
}
