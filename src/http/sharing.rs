//! Sharing routes: the resident's memberships, consents, receipts and access log, and the
//! individual reads an organisation's health staff make under consent.
//!
//! Everything a resident does here needs a login session (`account` scope): an app token can
//! never join an organisation or give or revoke consent.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::tokens::Scope;
use crate::db::{Id, Ts};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::measurements::{ListQuery, ListRequest, MeasurementPage};
use crate::http::paging::{PageQuery, Paged};
use crate::sharing::access_log::AccessEntry;
use crate::sharing::consents::{self, Access, Consent, NewConsent, Status};
use crate::sharing::individual::{self, Read, Reader};
use crate::sharing::memberships::{self, Join, Membership};
use crate::sharing::{StaffRole, orgs};

// ---- memberships ----

/// `POST /v1/me/memberships` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    /// The enrollment code the organisation handed out (case, spaces and dashes are ignored).
    pub enrollment_code: String,
}

/// A membership of an organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    /// Membership id.
    pub id: uuid::Uuid,
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// Its name.
    pub organization_name: String,
    /// `employer` or `insurer`.
    pub organization_kind: String,
    /// Joined.
    pub joined_at: DateTime<Utc>,
    /// Left; null while a member.
    pub left_at: Option<DateTime<Utc>>,
}

fn membership_view((m, name, kind): (Membership, String, String)) -> MembershipView {
    MembershipView {
        id: m.id.0,
        organization_id: m.organization_id.0,
        organization_name: name,
        organization_kind: kind,
        joined_at: m.joined_at.0,
        left_at: m.left_at.map(|t| t.0),
    }
}

/// Joins an organisation with its enrollment code. Membership alone shares nothing.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    request_body = JoinInput,
    responses(
        (status = 201, description = "Joined", body = MembershipView),
        (status = 200, description = "Already a member: the current membership (the code is not used up)", body = MembershipView),
        (status = 422, description = "Unknown, expired or used-up code", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/me/memberships")]
async fn join(state: web::Data<AppState>, who: Principal, body: web::Json<JoinInput>) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let user = who.user_id;
    let code = body.into_inner().enrollment_code;
    let (joined, fresh) = state
        .tx(move |c| {
            let (m, fresh) = match memberships::join(c, user, &code)? {
                Join::Joined(m) => (m, true),
                Join::Already(m) => (m, false),
                Join::BadCode => {
                    return Err(AppError::invalid(
                        "enrollment_code",
                        "unknown, expired or used-up enrollment code",
                    ));
                }
            };
            let found = memberships::find(c, user, m.id)?.ok_or(AppError::NotFound)?;
            Ok((found, fresh))
        })
        .await?;
    let view = membership_view(joined);
    Ok(if fresh {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The resident's memberships, current and past, oldest first.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<MembershipView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/memberships")]
async fn list_memberships(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<MembershipView>>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let user = who.user_id;
    let rows = state
        .db(move |c| Ok(memberships::list(c, user, page.after, PageQuery::fetch(page))?))
        .await?;
    Ok(web::Json(Paged::from_rows(page, rows, |r| r.0.id, membership_view)))
}

/// Leaves an organisation; every consent given to it is revoked in the same transaction.
/// Leaving a membership that already ended changes nothing.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Membership id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Left (or had left)"),
        (status = 404, description = "No such membership of the caller", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/me/memberships/{id}")]
async fn leave(state: web::Data<AppState>, who: Principal, path: web::Path<uuid::Uuid>) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, Id(path.into_inner()));
    state
        .tx(move |c| {
            memberships::find(c, user, id)?.ok_or(AppError::NotFound)?;
            memberships::leave(c, user, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- consents ----

/// `POST /v1/me/consents` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// An organisation the resident is a member of.
    pub organization_id: uuid::Uuid,
    /// Measurement types covered (catalogue names; at least one).
    #[schema(min_items = 1)]
    pub measurement_types: Vec<String>,
    /// Whether points figures are shared too (default false).
    #[serde(default)]
    pub include_points: bool,
    /// `aggregate` (only inside k-anonymous statistics) or `individual` (health staff may read
    /// the covered measurements; aggregates too).
    pub access: Access,
    /// The purpose the resident agrees to, 1–500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub purpose: String,
    /// When the consent ends by itself (future, within ten years); null: until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The consent receipt, with fields modelled on the Kantara Initiative Consent Receipt
/// Specification v1.1 (snake_case names).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentReceipt {
    /// Specification version followed: `KI-CR-v1.1.0`.
    pub version: String,
    /// Jurisdiction: `JP`.
    pub jurisdiction: String,
    /// When consent was given.
    pub consent_timestamp: DateTime<Utc>,
    /// How it was collected.
    pub collection_method: String,
    /// Receipt id.
    pub consent_receipt_id: uuid::Uuid,
    /// Language of the receipt.
    pub language: String,
    /// The resident (PII principal): their account id.
    pub pii_principal_id: uuid::Uuid,
    /// The controller holding the data and providing it to the third party.
    pub pii_controllers: Vec<ReceiptController>,
    /// Where the privacy policy is.
    pub policy_url: String,
    /// What the data is provided for.
    pub services: Vec<ReceiptService>,
    /// Health data is sensitive personal information.
    pub sensitive: bool,
    /// Categories of sensitive information.
    pub spi_cat: Vec<String>,
    /// Where the consent stands now: `active`, `revoked` or `expired`.
    pub status: Status,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A controller in a receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptController {
    /// Name.
    pub pii_controller: String,
    /// Whether it acts on behalf of another controller.
    pub on_behalf: bool,
    /// Contact.
    pub contact: String,
}

/// A service in a receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptService {
    /// The service.
    pub service: String,
    /// Its purposes.
    pub purposes: Vec<ReceiptPurpose>,
}

/// A purpose in a receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptPurpose {
    /// The purpose, as the resident agreed to it.
    pub purpose: String,
    /// Category: `aggregate statistics` or `individual health guidance`.
    pub purpose_category: Vec<String>,
    /// `EXPLICIT`.
    pub consent_type: String,
    /// Data categories: the measurement types, and `health_points` when included.
    pub pii_category: Vec<String>,
    /// Whether this is the primary purpose of collection (it is not: the resident's own record is).
    pub primary_purpose: bool,
    /// How and when it ends.
    pub termination: String,
    /// Whether data goes to a third party (yes: the organisation).
    pub third_party_disclosure: bool,
    /// The third party.
    pub third_party_name: String,
    /// Access level granted: `aggregate` or `individual`.
    pub access: String,
}

/// A consent, with its receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// Consent id.
    pub id: uuid::Uuid,
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// Its name.
    pub organization_name: String,
    /// Types covered.
    pub measurement_types: Vec<String>,
    /// Whether points figures are shared.
    pub include_points: bool,
    /// `aggregate` or `individual`.
    pub access: String,
    /// Purpose.
    pub purpose: String,
    /// When it ends by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// Given.
    pub created_at: DateTime<Utc>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why: `resident` or `left_organization`.
    pub revoked_reason: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub status: Status,
    /// The receipt.
    pub receipt: ConsentReceipt,
}

/// Builds the receipt of a consent.
fn receipt(c: &Consent, org_name: &str, types: &[String], now: Ts) -> ConsentReceipt {
    let mut categories = types.to_vec();
    if c.include_points {
        categories.push("health_points".to_owned());
    }
    let termination = match c.expires_at {
        Some(e) => format!(
            "ends at {} or when revoked (DELETE /v1/me/consents/{}) or on leaving the organisation",
            e.0.to_rfc3339(),
            c.id.0
        ),
        None => format!(
            "until revoked (DELETE /v1/me/consents/{}) or on leaving the organisation",
            c.id.0
        ),
    };
    ConsentReceipt {
        version: "KI-CR-v1.1.0".to_owned(),
        jurisdiction: "JP".to_owned(),
        consent_timestamp: c.created_at.0,
        collection_method: "given by the resident in their own signed-in session (POST /v1/me/consents)".to_owned(),
        consent_receipt_id: c.receipt_id.0,
        language: "en".to_owned(),
        pii_principal_id: c.user_id.0,
        pii_controllers: vec![ReceiptController {
            pii_controller: "Karada personal health record service".to_owned(),
            on_behalf: false,
            contact: "the platform operator".to_owned(),
        }],
        policy_url: "urn:karada:privacy-policy".to_owned(),
        services: vec![ReceiptService {
            service: format!("Provision of health data to {org_name}"),
            purposes: vec![ReceiptPurpose {
                purpose: c.purpose.clone(),
                purpose_category: vec![
                    if c.access == "individual" {
                        "individual health guidance"
                    } else {
                        "aggregate statistics"
                    }
                    .to_owned(),
                ],
                consent_type: "EXPLICIT".to_owned(),
                pii_category: categories,
                primary_purpose: false,
                termination,
                third_party_disclosure: true,
                third_party_name: org_name.to_owned(),
                access: c.access.clone(),
            }],
        }],
        sensitive: true,
        spi_cat: vec!["health".to_owned()],
        status: c.status(now),
        revoked_at: c.revoked_at.map(|t| t.0),
    }
}

fn consent_view(c: Consent, org_name: String, types: Vec<String>, now: Ts) -> ConsentView {
    let receipt = receipt(&c, &org_name, &types, now);
    ConsentView {
        id: c.id.0,
        organization_id: c.organization_id.0,
        organization_name: org_name,
        status: c.status(now),
        measurement_types: types,
        include_points: c.include_points,
        access: c.access,
        purpose: c.purpose,
        expires_at: c.expires_at.map(|t| t.0),
        created_at: c.created_at.0,
        revoked_at: c.revoked_at.map(|t| t.0),
        revoked_reason: c.revoked_reason,
        receipt,
    }
}

/// Loads the types of each consent and builds the views.
fn consent_views(c: &mut crate::db::DbConn, rows: Vec<(Consent, String)>) -> AppResult<Vec<ConsentView>> {
    let ids: Vec<Id> = rows.iter().map(|(c, _)| c.id).collect();
    let mut types: HashMap<Id, Vec<String>> = HashMap::new();
    for (id, t) in consents::types_of(c, &ids)? {
        types.entry(id).or_default().push(t);
    }
    let now = Ts::now();
    Ok(rows
        .into_iter()
        .map(|(consent, name)| {
            let t = types.remove(&consent.id).unwrap_or_default();
            consent_view(consent, name, t, now)
        })
        .collect())
}

fn one_consent(c: &mut crate::db::DbConn, user: Id, id: Id) -> AppResult<ConsentView> {
    let row = consents::find(c, user, id)?.ok_or(AppError::NotFound)?;
    consent_views(c, vec![row])?.pop().ok_or(AppError::NotFound)
}

/// Gives a consent to an organisation the resident is a member of; answers with its receipt.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    request_body = ConsentInput,
    responses(
        (status = 201, description = "Given", body = ConsentView),
        (status = 422, description = "Invalid fields, or not a member of that organisation", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/me/consents")]
async fn give_consent(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<ConsentInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let input = body.into_inner();
    let expires_at = input.expires_at.map(Ts::from);
    let (types, purpose) = consents::validate(&input.measurement_types, &input.purpose, expires_at, Ts::now())
        .map_err(AppError::Validation)?;
    let new = NewConsent {
        organization_id: Id(input.organization_id),
        measurement_types: types,
        include_points: input.include_points,
        access: input.access,
        purpose,
        expires_at,
    };
    let user = who.user_id;
    let view = state
        .tx(move |c| match consents::give(c, user, new)? {
            Some(id) => one_consent(c, user, id),
            None => Err(AppError::invalid(
                "organization_id",
                "you are not a member of this organisation",
            )),
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Every consent the resident has given, in every state (the history of grants and
/// revocations), oldest first.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<ConsentView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/consents")]
async fn list_consents(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<ConsentView>>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let user = who.user_id;
    let views = state
        .db(move |c| {
            let rows = consents::list(c, user, page.after, PageQuery::fetch(page))?;
            consent_views(c, rows)
        })
        .await?;
    Ok(web::Json(Paged::from_rows(page, views, |v| Id(v.id), |v| v)))
}

/// One of the resident's consents.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Consent id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The consent", body = ConsentView),
        (status = 404, description = "No such consent of the caller", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/consents/{id}")]
async fn get_consent(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<ConsentView>> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, Id(path.into_inner()));
    Ok(web::Json(state.db(move |c| one_consent(c, user, id)).await?))
}

/// The receipt of one of the resident's consents.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Consent id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The receipt", body = ConsentReceipt),
        (status = 404, description = "No such consent of the caller", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/consents/{id}/receipt")]
async fn get_receipt(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<ConsentReceipt>> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, Id(path.into_inner()));
    Ok(web::Json(state.db(move |c| one_consent(c, user, id)).await?.receipt))
}

/// Revokes a consent with immediate effect: the very next query of the organisation no longer
/// sees the resident's data. Revoking a revoked consent changes nothing.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Consent id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such consent of the caller", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/me/consents/{id}")]
async fn revoke_consent(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, Id(path.into_inner()));
    if state.tx(move |c| Ok(consents::revoke(c, user, id)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

// ---- access log ----

/// One read of the resident's data by someone else.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    /// Entry id.
    pub id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who read: the staff account's email (null once that account is erased).
    pub actor: Option<String>,
    /// For which organisation.
    pub organization_id: Option<uuid::Uuid>,
    /// Its name.
    pub organization_name: String,
    /// What was done: `read_measurements`.
    pub action: String,
    /// Which type.
    pub measurement_type: Option<String>,
    /// The consent that allowed it.
    pub consent_id: Option<uuid::Uuid>,
    /// Its purpose.
    pub purpose: String,
    /// How many records were returned.
    pub records: i32,
}

fn access_view((e, actor): (AccessEntry, Option<String>)) -> AccessView {
    AccessView {
        id: e.id.0,
        at: e.created_at.0,
        actor,
        organization_id: e.organization_id.map(|o| o.0),
        organization_name: e.organization_name,
        action: e.action,
        measurement_type: e.measurement_type,
        consent_id: e.consent_id.map(|c| c.0),
        purpose: e.purpose,
        records: e.records,
    }
}

/// Every read of the resident's data by anyone but the resident, newest first.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<AccessView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/access-log")]
async fn access_log(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<AccessView>>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let user = who.user_id;
    let rows = state
        .db(move |c| {
            Ok(crate::sharing::access_log::list_for_subject(
                c,
                user,
                page.after,
                PageQuery::fetch(page),
            )?)
        })
        .await?;
    Ok(web::Json(Paged::from_rows(page, rows, |r| r.0.id, access_view)))
}

// ---- individual reads ----

/// The reader of an individual read: a member of the organisation's staff (already checked), with
/// the organisation's name for the member's access log. 404 if the organisation is gone.
pub(crate) fn staff_reader(c: &mut crate::db::DbConn, org: Id, actor: Id) -> AppResult<Reader> {
    let org_row = orgs::find(c, org)?.ok_or(AppError::NotFound)?;
    Ok(Reader {
        actor,
        organization_id: org,
        organization_name: org_row.name,
    })
}

/// A member's measurements of one type, newest first, for the organisation's health staff: only
/// under an individual consent in force that covers the type (else 403), and every read is
/// written to the member's access log in the same transaction. `type` is required. The
/// `vascular_age_gap` is not computed here (the member's birth date is not shared).
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organisation id"),
        ("user_id" = uuid::Uuid, Path, description = "The member's account id"),
        ListQuery
    ),
    responses(
        (status = 200, description = "A page", body = MeasurementPage),
        (status = 400, description = "Malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown type, bad times or limit", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/orgs/{org_id}/members/{user_id}/measurements")]
async fn member_measurements(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
    query: web::Query<ListQuery>,
) -> AppResult<web::Json<MeasurementPage>> {
    let (org, subject) = path.into_inner();
    let (org, subject) = (Id(org), Id(subject));
    who.require_staff(org, StaffRole::HealthStaff)?;
    let ListRequest {
        def,
        filter,
        limit,
        cursor,
    } = query.into_inner().parse(true)?;
    // `parse(true)` answers a type whenever it succeeds.
    let def = def.ok_or_else(|| AppError::invalid("type", "is required"))?;
    let actor = who.user_id;
    let read = state
        .tx(move |c| {
            let reader = staff_reader(c, org, actor)?;
            Ok(individual::member_measurements(
                c,
                &reader,
                subject,
                def.name,
                &filter,
                cursor,
                i64::from(limit),
            )?)
        })
        .await?;
    let Read::Served(rows) = read else {
        return Err(AppError::Forbidden(
            "no individual consent of this member covers this type",
        ));
    };
    // The member's birth date is not shared, so no vascular age gap.
    Ok(web::Json(MeasurementPage::from_rows(limit, rows, None)))
}

/// Registers the sharing routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(join)
        .service(list_memberships)
        .service(leave)
        .service(give_consent)
        .service(list_consents)
        .service(get_consent)
        .service(get_receipt)
        .service(revoke_consent)
        .service(access_log)
        .service(member_measurements);
}
