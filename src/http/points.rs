//! Points routes: the resident's balances, ledger, and the rules they can earn by.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::tokens::Scope;
use crate::db::Id;
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::points::{self, LedgerEntry, Programme, RuleKind};

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
    let today = crate::accounts::local_today(&who.user.timezone);
    (today, points::age_today(who.user.birth_date, today))
}

/// Balances per programme the resident is eligible for.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    responses((status = 200, description = "Balances", body = PointsView))
)]
#[get("/v1/points")]
async fn get_points(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<PointsView>> {
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
async fn get_ledger(
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
async fn get_rules(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<RulesView>> {
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

fn rule_view(r: points::Rule) -> RuleView {
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

/// A reward rule as an operator writes it: DESIGN.md's rule JSON without `id`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleInput {
    /// Programme slug.
    pub programme: String,
    /// Title shown on ledger entries, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// `kind` and the kind's fields; unknown fields are refused.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// First local day it applies.
    pub active_from: Option<NaiveDate>,
    /// Last local day it applies.
    pub active_to: Option<NaiveDate>,
    /// Youngest age it applies to (0–120).
    pub min_age: Option<i32>,
    /// Oldest age it applies to (0–120).
    pub max_age: Option<i32>,
    /// Only device- or kiosk-measured data counts (default false).
    pub sensed_only: Option<bool>,
}

/// The rule an operator wrote, checked against the programmes and the rules in force.
fn check_rule(c: &mut crate::db::DbConn, id: Id, input: RuleInput) -> AppResult<points::Rule> {
    let rule = points::Rule {
        id,
        programme_id: input.programme,
        title: input.title.trim().to_owned(),
        kind: input.kind,
        active_from: input.active_from,
        active_to: input.active_to,
        min_age: input.min_age,
        max_age: input.max_age,
        sensed_only: input.sensed_only.unwrap_or(false),
    };
    let programmes = points::programme_ids(c)?;
    let in_force = points::active_rules(c, &programmes)?;
    let errors = points::rules::validate_rule(&rule, &programmes, &in_force);
    if errors.is_empty() {
        Ok(rule)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Every rule in force, in every programme (operators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "Rules in force", body = RulesView))
)]
#[get("/v1/admin/reward-rules")]
async fn admin_list_rules(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<RulesView>> {
    who.require_admin()?;
    let rules = state
        .db(|c| {
            let ids = points::programme_ids(c)?;
            Ok(points::active_rules(c, &ids)?)
        })
        .await?;
    Ok(web::Json(RulesView {
        items: rules.into_iter().map(rule_view).collect(),
    }))
}

/// Creates a rule. Rules are data: a new rule pays from its first upload on.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = RuleInput,
    responses(
        (status = 201, description = "Created", body = RuleView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/reward-rules")]
async fn admin_create_rule(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<RuleInput>,
) -> AppResult<HttpResponse> {
    who.require_admin()?;
    let input = body.into_inner();
    let rule = state
        .tx(move |c| {
            let rule = check_rule(c, Id::new(), input)?;
            points::create_rule(c, &rule)?;
            points::find_rule(c, rule.id)?.ok_or_else(|| AppError::internal("created rule not readable"))
        })
        .await?;
    Ok(HttpResponse::Created().json(rule_view(rule)))
}

/// Changes a rule in place (same id): points already paid keep their amounts and titles, and no
/// period is paid twice.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = RuleInput,
    params(("id" = uuid::Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, description = "Changed", body = RuleView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule in force", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/v1/admin/reward-rules/{id}")]
async fn admin_replace_rule(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
    body: web::Json<RuleInput>,
) -> AppResult<web::Json<RuleView>> {
    who.require_admin()?;
    let (id, input) = (Id(path.into_inner()), body.into_inner());
    let rule = state
        .tx(move |c| {
            let rule = check_rule(c, id, input)?;
            match points::replace_rule(c, &rule)? {
                points::Replaced::Changed => {}
                points::Replaced::NotFound => return Err(AppError::NotFound),
                points::Replaced::OtherProgramme => {
                    return Err(AppError::invalid(
                        "programme",
                        "a rule stays in its programme: retire it and create one in the other",
                    ));
                }
            }
            points::find_rule(c, id)?.ok_or(AppError::NotFound)
        })
        .await?;
    Ok(web::Json(rule_view(rule)))
}

/// Retires a rule: it stops paying; what it paid stays.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Retired"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule in force", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/admin/reward-rules/{id}")]
async fn admin_retire_rule(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    who.require_admin()?;
    let id = Id(path.into_inner());
    let retired = state.tx(move |c| Ok(points::retire_rule(c, id)?)).await?;
    if retired {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

/// A programme as operators see and write it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeAdmin {
    /// Slug: 2–40 lower-case letters, digits and dashes, starting with a letter.
    #[schema(min_length = 2, max_length = 40)]
    pub id: String,
    /// Title, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// Who pays for the points, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub sponsor: String,
    /// `everyone` (default) or `organization_members`: the current members of `organization_id`.
    #[serde(default = "everyone")]
    pub eligibility: String,
    /// The sponsoring organisation: required with `organization_members`, refused otherwise.
    #[serde(default)]
    pub organization_id: Option<uuid::Uuid>,
    /// Youngest eligible age (0–120).
    #[serde(default)]
    pub min_age: Option<i32>,
    /// Oldest eligible age (0–120).
    #[serde(default)]
    pub max_age: Option<i32>,
    /// Most points per resident per local day (1–100000); null: no cap.
    #[serde(default)]
    pub daily_cap: Option<i32>,
}

fn everyone() -> String {
    "everyone".to_owned()
}

impl ProgrammeAdmin {
    fn into_programme(self, created_at: crate::db::Ts) -> AppResult<Programme> {
        let p = Programme {
            id: self.id,
            title: self.title.trim().to_owned(),
            sponsor: self.sponsor.trim().to_owned(),
            eligibility: self.eligibility,
            min_age: self.min_age,
            max_age: self.max_age,
            daily_cap: self.daily_cap,
            created_at,
            organization_id: self.organization_id.map(crate::db::Id),
        };
        let errors = points::validate_programme(&p);
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(AppError::Validation(errors))
        }
    }
}

impl From<Programme> for ProgrammeAdmin {
    fn from(p: Programme) -> Self {
        ProgrammeAdmin {
            id: p.id,
            title: p.title,
            sponsor: p.sponsor,
            eligibility: p.eligibility,
            min_age: p.min_age,
            max_age: p.max_age,
            daily_cap: p.daily_cap,
            organization_id: p.organization_id.map(|o| o.0),
        }
    }
}

/// 422 unless the programme's sponsoring organisation exists.
fn check_sponsor(c: &mut crate::db::DbConn, programme: &Programme) -> AppResult<()> {
    if let Some(org) = programme.organization_id
        && crate::sharing::orgs::find(c, org)?.is_none()
    {
        return Err(AppError::invalid("organization_id", "no such organisation"));
    }
    Ok(())
}

/// `GET /v1/admin/programmes` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammesAdmin {
    /// Every programme.
    pub items: Vec<ProgrammeAdmin>,
}

/// Every programme (operators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "Programmes", body = ProgrammesAdmin))
)]
#[get("/v1/admin/programmes")]
async fn admin_list_programmes(state: web::Data<AppState>, who: Principal) -> AppResult<web::Json<ProgrammesAdmin>> {
    who.require_admin()?;
    let all = state.db(|c| Ok(points::programmes(c)?)).await?;
    Ok(web::Json(ProgrammesAdmin {
        items: all.into_iter().map(ProgrammeAdmin::from).collect(),
    }))
}

/// Creates a programme; it starts without rules.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = ProgrammeAdmin,
    responses(
        (status = 201, description = "Created", body = ProgrammeAdmin),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/programmes")]
async fn admin_create_programme(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<ProgrammeAdmin>,
) -> AppResult<HttpResponse> {
    who.require_admin()?;
    let programme = body.into_inner().into_programme(crate::db::Ts::now())?;
    let created = state
        .tx(move |c| {
            if points::find_programme(c, &programme.id)?.is_some() {
                return Err(AppError::StateConflict {
                    slug: "programme-exists",
                    detail: "a programme with this id exists".to_owned(),
                });
            }
            check_sponsor(c, &programme)?;
            points::create_programme(c, &programme)?;
            Ok(programme)
        })
        .await?;
    Ok(HttpResponse::Created().json(ProgrammeAdmin::from(created)))
}

/// Changes a programme (not its id). A lower cap applies from the next award; nothing paid is
/// taken back.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = ProgrammeAdmin,
    params(("id" = String, Path, description = "Programme id")),
    responses(
        (status = 200, description = "Changed", body = ProgrammeAdmin),
        (status = 404, description = "No such programme", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an id that differs from the path", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/v1/admin/programmes/{id}")]
async fn admin_update_programme(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<ProgrammeAdmin>,
) -> AppResult<web::Json<ProgrammeAdmin>> {
    who.require_admin()?;
    let id = path.into_inner();
    let input = body.into_inner();
    if input.id != id {
        return Err(AppError::invalid("id", "must equal the id in the path"));
    }
    let programme = input.into_programme(crate::db::Ts::now())?;
    let updated = state
        .tx(move |c| {
            check_sponsor(c, &programme)?;
            if !points::update_programme(c, &programme)? {
                return Err(AppError::NotFound);
            }
            points::find_programme(c, &programme.id)?.ok_or(AppError::NotFound)
        })
        .await?;
    Ok(web::Json(updated.into()))
}

/// Registers the points routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_points)
        .service(get_ledger)
        .service(get_rules)
        .service(admin_list_rules)
        .service(admin_create_rule)
        .service(admin_replace_rule)
        .service(admin_retire_rule)
        .service(admin_list_programmes)
        .service(admin_create_programme)
        .service(admin_update_programme);
}
