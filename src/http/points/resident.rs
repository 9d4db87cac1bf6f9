//! What a resident reads about points: balances per programme, the ledger, and the rules they can
//! earn by.

use crate::accounts::tokens::Scope;
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::points::{self, LedgerEntry, Programme, RuleKind};
use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A programme, as residents see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammeView {
    /// Slug, e.g. `osaka`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Who pays for the points.
    pub sponsor: String,
    /// Most points per resident per local day, if capped.
    pub daily_cap: Option<i32>,
}

impl From<Programme> for ProgrammeView {
    fn from(p: Programme) -> Self {
        ProgrammeView {
            id: p.id,
            title: p.title,
            sponsor: p.sponsor,
            daily_cap: p.daily_cap,
        }
    }
}

/// The resident's standing in one programme.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammePoints {
    /// The programme.
    pub programme: ProgrammeView,
    /// Points available to spend.
    pub balance: i32,
    /// Points ever earned.
    pub lifetime_earned: i32,
    /// Points earned on the resident's current local day.
    pub today_earned: i32,
}

/// `GET /v1/points` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsView {
    /// One per programme the resident is eligible for.
    pub items: Vec<ProgrammePoints>,
}

/// The caller's local day (in their timezone) and age on it.
pub(crate) fn today_and_age(who: &Principal) -> (NaiveDate, Option<i32>) {
    let today = crate::calendar::today_in(&who.user.timezone);
    (today, points::age_today(who.user.birth_date, today))
}

/// Balances per programme the resident is eligible for.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    responses((status = 200, description = "Balances", body = PointsView))
)]
#[get("/v1/points")]
pub(super) async fn get_points(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<PointsView>> {
    who.require(Scope::PointsRead)?;
    let (today, age) = today_and_age(&who);
    let user_id = who.user_id;
    let standings = state
        .db(move |c| Ok(points::standings(c, user_id, age, today)?))
        .await?;
    Ok(web::Json(PointsView {
        items: standings
            .into_iter()
            .map(|s| ProgrammePoints {
                programme: s.programme.into(),
                balance: s.balance,
                lifetime_earned: s.lifetime_earned,
                today_earned: s.today_earned,
            })
            .collect(),
    }))
}

/// Query of `GET /v1/points/ledger`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Programme slug (default `osaka`).
    pub programme: Option<String>,
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryView {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Programme.
    pub programme: String,
    /// Points added (negative: spent).
    pub delta: i32,
    /// The rule that paid it.
    pub rule_id: Option<uuid::Uuid>,
    /// What it was for.
    pub title: String,
    /// The resident's day it counts for.
    pub local_date: NaiveDate,
    /// The measurement that earned it.
    pub measurement_id: Option<uuid::Uuid>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(e: LedgerEntry) -> Self {
        LedgerEntryView {
            id: e.id.0,
            programme: e.programme_id,
            delta: e.delta,
            rule_id: e.rule_id.map(|r| r.0),
            title: e.title,
            local_date: e.local_date,
            measurement_id: e.measurement_id.map(|m| m.0),
            created_at: e.created_at.0,
        }
    }
}

/// A page of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPage {
    /// Newest first.
    pub items: Vec<LedgerEntryView>,
    /// Cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The resident's ledger in one programme, newest first.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    params(LedgerQuery),
    responses(
        (status = 200, description = "A page of entries", body = LedgerPage),
        (status = 400, description = "Malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such programme for the resident", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/points/ledger")]
pub(super) async fn get_ledger(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<LedgerQuery>,
) -> AppResult<web::Json<LedgerPage>> {
    who.require(Scope::PointsRead)?;
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let programme = q.programme.unwrap_or_else(|| "osaka".to_owned());
    let (today, age) = today_and_age(&who);
    let user_id = who.user_id;
    let rows = state
        .db(move |c| {
            let eligible = points::standings(c, user_id, age, today)?;
            if !eligible.iter().any(|s| s.programme.id == programme) {
                return Err(AppError::NotFound);
            }
            Ok(points::ledger(
                c,
                user_id,
                &programme,
                page.after,
                PageQuery::fetch(page),
            )?)
        })
        .await?;
    let paged = Paged::from_rows(page, rows, |e| e.id, LedgerEntryView::from);
    Ok(web::Json(LedgerPage {
        items: paged.items,
        next_cursor: paged.next_cursor,
    }))
}

/// A reward rule, as DESIGN.md's rule JSON: common fields plus the kind's own.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// Rule id.
    pub id: uuid::Uuid,
    /// Programme slug.
    pub programme: String,
    /// Title.
    pub title: String,
    /// `kind` and the kind's fields.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// First local day it applies.
    pub active_from: Option<NaiveDate>,
    /// Last local day it applies.
    pub active_to: Option<NaiveDate>,
    /// Youngest age it applies to.
    pub min_age: Option<i32>,
    /// Oldest age it applies to.
    pub max_age: Option<i32>,
    /// Only device- or kiosk-measured data counts.
    pub sensed_only: bool,
}

/// `GET /v1/reward-rules` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    /// The rules in force in the caller's eligible programmes that apply at the caller's age.
    pub items: Vec<RuleView>,
}

/// How the caller can earn points: the active rules of their programmes.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    responses((status = 200, description = "Rules", body = RulesView))
)]
#[get("/v1/reward-rules")]
pub(super) async fn get_rules(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<RulesView>> {
    let (today, age) = today_and_age(&who);
    let user_id = who.user_id;
    let rules = state
        .db(move |c| {
            let ids = points::eligible_programme_ids(c, user_id, age)?;
            Ok(points::active_rules(c, &ids)?)
        })
        .await?;
    let items = rules
        .into_iter()
        .filter(|r| r.offered_to(age, today))
        .map(rule_view)
        .collect();
    Ok(web::Json(RulesView { items }))
}

pub(super) fn rule_view(r: points::Rule) -> RuleView {
    RuleView {
        id: r.id.0,
        programme: r.programme_id,
        title: r.title,
        kind: r.kind,
        active_from: r.active_from,
        active_to: r.active_to,
        min_age: r.min_age,
        max_age: r.max_age,
        sensed_only: r.sensed_only,
    }
}
