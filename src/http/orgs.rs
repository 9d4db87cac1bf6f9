//! Organisation routes: operators manage organisations and their staff; an organisation's
//! `org_admin` creates enrollment codes.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{OrgId, Ts, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::{Operator, Principal};
use crate::http::paging::{PageQuery, Paged};
use crate::privacy::{Mode, budget};
use crate::sharing::memberships;
use crate::sharing::orgs::{self, AddStaff, Delete, OrgKind, Organization, StaffRole};

/// `POST`/`PUT /v1/admin/organizations` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationInput {
    /// Name shown to residents, 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `employer` or `insurer`.
    pub kind: OrgKind,
    /// Read-only since the privacy policy has its own route
    /// (`PUT /v1/admin/organizations/{org_id}/privacy`, audited, with a reason to raise it). On
    /// creation it may lower the default budget of 10 per year (0–10); on change it may only repeat
    /// the current value.
    #[schema(minimum = 0, maximum = 10)]
    pub privacy_budget: Option<f64>,
}

/// An organisation, as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    /// The organisation's id: what its staff routes and a resident's consent name it by.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// `employer` or `insurer`.
    pub kind: orgs::OrgKind,
    /// This calendar year's privacy budget (epsilon; read-only, see the privacy policy route).
    pub privacy_budget: f64,
    /// Epsilon spent this calendar year.
    pub privacy_spent: f64,
    /// How the organisation's statistics are released.
    pub privacy_mode: Mode,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

fn org_view((o, spent): (Organization, f64)) -> OrganizationView {
    OrganizationView {
        id: o.id.0,
        name: o.name,
        kind: o.kind,
        privacy_budget: o.privacy_budget,
        privacy_spent: spent,
        privacy_mode: o.privacy_mode,
        created_at: o.created_at.0,
        updated_at: o.updated_at.0,
    }
}

/// An organisation with what it spent this year.
fn with_spent(c: &mut crate::db::DbConn, o: Organization) -> AppResult<(Organization, f64)> {
    let spent = budget::spent(c, o.id, crate::privacy::budget_year(Ts::now()))?;
    Ok((o, spent))
}

/// Checks a new organisation: its name, and its budget — the default, or a lower one (raising it
/// is a policy change with a reason).
fn checked_new(input: &OrganizationInput) -> AppResult<(String, f64)> {
    let mut errors = orgs::validate(&input.name);
    let budget = input.privacy_budget.unwrap_or(orgs::DEFAULT_PRIVACY_BUDGET);
    if !(0.0..=orgs::DEFAULT_PRIVACY_BUDGET).contains(&budget) {
        errors.push(crate::error::FieldError::new(
            "privacy_budget",
            format!(
                "must be between 0 and {}; a larger budget is set with PUT /v1/admin/organizations/{{org_id}}/privacy and a reason",
                orgs::DEFAULT_PRIVACY_BUDGET
            ),
        ));
    }
    if errors.is_empty() {
        Ok((input.name.trim().to_owned(), budget))
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Creates an organisation.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = OrganizationInput,
    responses(
        (status = 201, description = "Created", body = OrganizationView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/organizations")]
async fn create_org(
    state: web::Data<AppState>,
    _: Operator,
    body: web::Json<OrganizationInput>,
) -> AppResult<HttpResponse> {
    let input = body.into_inner();
    let (name, budget) = checked_new(&input)?;
    let now = Ts::now();
    let org = Organization {
        id: OrgId::new(),
        name,
        kind: input.kind,
        privacy_budget: budget,
        privacy_mode: orgs::DEFAULT_PRIVACY_MODE,
        created_at: now,
        updated_at: now,
    };
    let org = state
        .db(move |c| {
            orgs::create(c, &org)?;
            Ok((org, 0.0))
        })
        .await?;
    Ok(HttpResponse::Created().json(org_view(org)))
}

/// Every organisation, oldest first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<OrganizationView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/organizations")]
async fn list_orgs(
    state: web::Data<AppState>,
    _: Operator,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<OrganizationView>>> {
    let page = query.page()?;
    let rows = state
        .db(move |c| {
            let orgs = orgs::list(c, page.after, PageQuery::fetch(page))?;
            orgs.into_iter()
                .map(|o| with_spent(c, o))
                .collect::<AppResult<Vec<_>>>()
        })
        .await?;
    Ok(web::Json(Paged::from_rows(page, rows, |o| o.0.id, org_view)))
}

/// One organisation.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The organisation", body = OrganizationView),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/organizations/{id}")]
async fn get_org(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<OrgId>,
) -> AppResult<web::Json<OrganizationView>> {
    let id = path.into_inner();
    let org = state
        .db(move |c| {
            let org = orgs::find(c, id)?.ok_or(AppError::NotFound)?;
            with_spent(c, org)
        })
        .await?;
    Ok(web::Json(org_view(org)))
}

/// Changes an organisation's name and kind. Its privacy budget is read-only here: the privacy
/// policy has its own audited route.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = OrganizationInput,
    responses(
        (status = 200, description = "Changed", body = OrganizationView),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a privacy budget other than the current one", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/v1/admin/organizations/{id}")]
async fn update_org(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<OrgId>,
    body: web::Json<OrganizationInput>,
) -> AppResult<web::Json<OrganizationView>> {
    let id = path.into_inner();
    let input = body.into_inner();
    let org = state
        .tx(move |c| {
            let org = orgs::find(c, id)?.ok_or(AppError::NotFound)?;
            let mut errors = orgs::validate(&input.name);
            if input.privacy_budget.is_some_and(|b| b != org.privacy_budget) {
                errors.push(crate::error::FieldError::new(
                    "privacy_budget",
                    "is read-only: change it with PUT /v1/admin/organizations/{org_id}/privacy and a reason",
                ));
            }
            if !errors.is_empty() {
                return Err(AppError::Validation(errors));
            }
            orgs::update(c, id, input.name.trim(), input.kind)?;
            let org = orgs::find(c, id)?.ok_or(AppError::NotFound)?;
            with_spent(c, org)
        })
        .await?;
    Ok(web::Json(org_view(org)))
}

/// Deletes an organisation created by mistake: one that never had a member and sponsors no
/// programme (members' memberships and consents are their history and are kept).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "organization-has-members or organization-sponsors-programme", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/admin/organizations/{id}")]
async fn delete_org(state: web::Data<AppState>, _: Operator, path: web::Path<OrgId>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    match state.tx(move |c| Ok(orgs::delete(c, id)?)).await? {
        Delete::Deleted => Ok(HttpResponse::NoContent().finish()),
        Delete::NotFound => Err(AppError::NotFound),
        Delete::HasMembers => Err(AppError::StateConflict {
            refusal: crate::error::Refusal::OrganizationHasMembers,
            detail: "residents have been members of this organisation; it is kept with their history".to_owned(),
        }),
        Delete::SponsorsProgramme => Err(AppError::StateConflict {
            refusal: crate::error::Refusal::OrganizationSponsorsProgramme,
            detail: "a programme names this organisation".to_owned(),
        }),
    }
}

/// `POST /v1/admin/organizations/{id}/staff` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInput {
    /// Email of an existing account.
    pub email: String,
    /// `org_admin`, `analyst` or `health_staff`.
    pub role: StaffRole,
}

/// A staff role held in an organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// Account.
    pub user_id: uuid::Uuid,
    /// The account's email.
    pub email: String,
    /// Role.
    pub role: String,
    /// Since (absent in the answer to adding one).
    pub created_at: Option<DateTime<Utc>>,
}

/// `GET /v1/admin/organizations/{id}/staff` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffList {
    /// Every role held, oldest first.
    pub items: Vec<StaffView>,
}

/// Makes an existing account staff of the organisation with a role (an account may hold several
/// roles; giving one it holds changes nothing and answers 200).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = StaffInput,
    responses(
        (status = 201, description = "Role given", body = StaffView),
        (status = 200, description = "The account already held the role", body = StaffView),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No account with this email", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/organizations/{id}/staff")]
async fn add_staff(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<OrgId>,
    body: web::Json<StaffInput>,
) -> AppResult<HttpResponse> {
    let org = path.into_inner();
    let input = body.into_inner();
    let email = input.email.trim().to_lowercase();
    let role = input.role;
    let (added, email) = state
        .tx(move |c| {
            orgs::find(c, org)?.ok_or(AppError::NotFound)?;
            let added = orgs::add_staff(c, org, &email, role)?;
            Ok((added, email))
        })
        .await?;
    let view = |user: UserId| StaffView {
        organization_id: org.0,
        user_id: user.0,
        email: email.clone(),
        role: role.as_str().to_owned(),
        created_at: None,
    };
    match added {
        AddStaff::Added(user) => Ok(HttpResponse::Created().json(view(user))),
        AddStaff::Already(user) => Ok(HttpResponse::Ok().json(view(user))),
        AddStaff::NoAccount => Err(AppError::invalid("email", "no account has this email")),
    }
}

/// The organisation's staff.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Staff", body = StaffList),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/organizations/{id}/staff")]
async fn list_staff(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<OrgId>,
) -> AppResult<web::Json<StaffList>> {
    let org = path.into_inner();
    let rows = state
        .db(move |c| {
            orgs::find(c, org)?.ok_or(AppError::NotFound)?;
            Ok(orgs::staff(c, org)?)
        })
        .await?;
    Ok(web::Json(StaffList {
        items: rows
            .into_iter()
            .map(|s| StaffView {
                organization_id: org.0,
                user_id: s.user_id.0,
                email: s.email,
                role: s.role,
                created_at: Some(s.created_at.0),
            })
            .collect(),
    }))
}

/// Takes every role in the organisation away from an account, with effect on its next request.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Organisation id"),
        ("user_id" = uuid::Uuid, Path, description = "Account id")
    ),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Removed"),
        (status = 404, description = "The account holds no role there", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/admin/organizations/{id}/staff/{user_id}")]
async fn remove_staff(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<(OrgId, UserId)>,
) -> AppResult<HttpResponse> {
    let (org, user) = path.into_inner();
    if state.db(move |c| Ok(orgs::remove_staff(c, org, user)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

/// `POST /v1/orgs/{org_id}/enrollment-codes` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentCodeInput {
    /// When the code stops working (future, within ten years); null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many residents may join with it, 1–1000000; null: no limit.
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_uses: Option<i32>,
}

/// A new enrollment code.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentCodeView {
    /// Id of the code.
    pub id: uuid::Uuid,
    /// The code to hand to employees or insured members (8 characters; shown once: only a hash
    /// is stored).
    pub code: String,
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many may join with it.
    pub max_uses: Option<i32>,
}

/// Creates an enrollment code (the organisation's `org_admin`).
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = EnrollmentCodeInput,
    responses(
        (status = 201, description = "Created", body = EnrollmentCodeView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/orgs/{org_id}/enrollment-codes")]
async fn create_enrollment_code(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<OrgId>,
    body: web::Json<EnrollmentCodeInput>,
) -> AppResult<HttpResponse> {
    let org = path.into_inner();
    who.require_staff(org, StaffRole::OrgAdmin)?;
    let input = body.into_inner();
    let expires_at = input.expires_at.map(Ts::from);
    let errors = memberships::validate_code(expires_at, input.max_uses, Ts::now());
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let max_uses = input.max_uses;
    let creator = who.user_id;
    let (id, code) = state
        .db(move |c| Ok(memberships::create_code(c, org, creator, expires_at, max_uses)?))
        .await?;
    Ok(HttpResponse::Created().json(EnrollmentCodeView {
        id: id.0,
        code,
        organization_id: org.0,
        expires_at: expires_at.map(|t| t.0),
        max_uses,
    }))
}

/// Registers the organisation routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_org)
        .service(list_orgs)
        .service(get_org)
        .service(update_org)
        .service(delete_org)
        .service(add_staff)
        .service(list_staff)
        .service(remove_staff)
        .service(create_enrollment_code);
}
