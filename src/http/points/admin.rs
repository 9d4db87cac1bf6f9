//! Operators' points administration: reward rules (list, create, replace, retire) and programmes
//! (list, create, change).

use super::resident::{RuleView, RulesView, rule_view};
use crate::db::RuleId;
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Operator;
use crate::points::{self, Eligibility, Programme, RuleKind};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A reward rule as an operator writes it: DESIGN.md's rule JSON without `id`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleInput {
    /// Programme slug.
    #[schema(min_length = 2, max_length = 40, pattern = "^[a-z][a-z0-9-]*$")]
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
    #[schema(minimum = 0, maximum = 120)]
    pub min_age: Option<i32>,
    /// Oldest age it applies to (0–120; not below `min_age`).
    #[schema(minimum = 0, maximum = 120)]
    pub max_age: Option<i32>,
    /// Only device- or kiosk-measured data counts (default false).
    pub sensed_only: Option<bool>,
}

/// The rule an operator wrote, checked against the programmes and the rules in force.
fn check_rule(c: &mut crate::db::DbConn, id: RuleId, input: RuleInput) -> AppResult<points::Rule> {
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
        // Kept as it was when a rule is changed in place (the update leaves the column alone).
        created_at: crate::db::Ts::now(),
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
pub(super) async fn admin_list_rules(state: web::Data<AppState>, _: Operator) -> AppResult<web::Json<RulesView>> {
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
pub(super) async fn admin_create_rule(
    state: web::Data<AppState>,
    _: Operator,
    body: web::Json<RuleInput>,
) -> AppResult<HttpResponse> {
    let input = body.into_inner();
    let rule = state
        .tx(move |c| {
            let rule = check_rule(c, RuleId::new(), input)?;
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
pub(super) async fn admin_replace_rule(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<RuleId>,
    body: web::Json<RuleInput>,
) -> AppResult<web::Json<RuleView>> {
    let (id, input) = (path.into_inner(), body.into_inner());
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
pub(super) async fn admin_retire_rule(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<RuleId>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
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
    #[schema(min_length = 2, max_length = 40, pattern = "^[a-z][a-z0-9-]*$")]
    pub id: String,
    /// Title, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// Who pays for the points, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub sponsor: String,
    /// `everyone` (default) or `organization_members`: the current members of `organization_id`.
    #[serde(default = "everyone")]
    #[schema(pattern = "^(everyone|organization_members)$", default = "everyone")]
    pub eligibility: String,
    /// The sponsoring organisation: required with `organization_members`, refused otherwise.
    #[serde(default)]
    pub organization_id: Option<uuid::Uuid>,
    /// Youngest eligible age (0–120).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 120)]
    pub min_age: Option<i32>,
    /// Oldest eligible age (0–120; not below `min_age`).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 120)]
    pub max_age: Option<i32>,
    /// Most points per resident per local day (1–100000); null: no cap.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100_000)]
    pub daily_cap: Option<i32>,
    /// A measurement earns only for local days at most this many days before the upload's day
    /// (1–366; default 7). Checkups use their own 365-day window.
    #[serde(default = "default_award_window")]
    #[schema(minimum = 1, maximum = 366, default = 7)]
    pub award_window_days: i32,
}

fn everyone() -> String {
    Eligibility::Everyone.as_str().to_owned()
}

fn default_award_window() -> i32 {
    7
}

impl ProgrammeAdmin {
    fn into_programme(self, created_at: crate::db::Ts) -> AppResult<Programme> {
        let eligibility = Eligibility::parse(&self.eligibility);
        let p = Programme {
            id: self.id,
            title: self.title.trim().to_owned(),
            sponsor: self.sponsor.trim().to_owned(),
            // Text that names no eligibility is reported below, with the programme's other problems.
            eligibility: eligibility.unwrap_or_default(),
            min_age: self.min_age,
            max_age: self.max_age,
            daily_cap: self.daily_cap,
            created_at,
            organization_id: self.organization_id.map(crate::db::OrgId),
            award_window_days: self.award_window_days,
        };
        let errors = points::validate_programme(&p, eligibility);
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
            eligibility: p.eligibility.as_str().to_owned(),
            min_age: p.min_age,
            max_age: p.max_age,
            daily_cap: p.daily_cap,
            organization_id: p.organization_id.map(|o| o.0),
            award_window_days: p.award_window_days,
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
pub(super) async fn admin_list_programmes(
    state: web::Data<AppState>,
    _: Operator,
) -> AppResult<web::Json<ProgrammesAdmin>> {
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
pub(super) async fn admin_create_programme(
    state: web::Data<AppState>,
    _: Operator,
    body: web::Json<ProgrammeAdmin>,
) -> AppResult<HttpResponse> {
    let programme = body.into_inner().into_programme(crate::db::Ts::now())?;
    let created = state
        .tx(move |c| {
            if points::find_programme(c, &programme.id)?.is_some() {
                return Err(AppError::StateConflict {
                    refusal: crate::error::Refusal::ProgrammeExists,
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
pub(super) async fn admin_update_programme(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<String>,
    body: web::Json<ProgrammeAdmin>,
) -> AppResult<web::Json<ProgrammeAdmin>> {
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
