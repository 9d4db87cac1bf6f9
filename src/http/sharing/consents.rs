//! A resident's consents and their receipts: giving a consent to an organisation, listing them,
//! reading one and its receipt (the document that records what was agreed, with whom and for what),
//! and revoking one.

use crate::accounts::tokens::Scope;
use crate::db::{ConsentId, OrgId, Ts, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::privacy::Mode;
use crate::sharing::consents::{self, Access, NewConsent, Status, WithOrg};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

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
    /// The first day of data the organisation may see (in the resident's timezone): default the
    /// day of the consent; the resident may choose an earlier one (never later). Data effective
    /// before it is never shown under this consent; aggregates read whole months only, from the
    /// first month that starts on or after it.
    pub data_from: Option<NaiveDate>,
    /// Whether the free-text notes of the measurements go with them to the organisation's health
    /// staff (default false: they never do).
    #[serde(default)]
    pub include_notes: bool,
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
    /// The first day of data it shares.
    pub data_from: NaiveDate,
    /// Whether free-text notes go with the data.
    pub include_notes: bool,
    /// How the organisation's statistics that may include this data are released, now.
    pub privacy: ReceiptPrivacy,
}

/// The organisation's privacy policy as a receipt states it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptPrivacy {
    /// `differential_privacy` or `exact`.
    pub mode: Mode,
    /// The organisation's privacy budget per calendar year (epsilon).
    pub epsilon_per_year: f64,
    /// What the mode means for the resident, in plain words.
    pub statement: String,
}

fn receipt_privacy(mode: Mode, epsilon_per_year: f64) -> ReceiptPrivacy {
    let statement = match mode {
        Mode::DifferentialPrivacy => format!(
            "Statistics about members are released under differential privacy: noise hides whether \
             any one person is included, at a cost of at most epsilon {epsilon_per_year} a calendar \
             year; every release that may include you is listed at GET /v1/me/privacy-ledger."
        ),
        Mode::Exact => "Statistics about members are released exactly, as long as each figure describes \
                        at least k_min people (k-anonymity): this protects less against an organisation \
                        that combines several answers; the platform operator approved it for this \
                        organisation with a recorded reason."
            .to_owned(),
    };
    ReceiptPrivacy {
        mode,
        epsilon_per_year,
        statement,
    }
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
    /// The first day of data it shares.
    pub data_from: NaiveDate,
    /// Whether free-text notes go with the data.
    pub include_notes: bool,
    /// The organisation's privacy policy now: how statistics that may include this data are
    /// released.
    pub organization_privacy: ReceiptPrivacy,
    /// The receipt.
    pub receipt: ConsentReceipt,
}

/// Builds the receipt of a consent.
fn receipt(row: &WithOrg, types: &[String], now: Ts) -> ConsentReceipt {
    let (c, org_name) = (&row.consent, row.organization_name.as_str());
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
                    if c.access == Access::Individual {
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
                access: c.access.as_str().to_owned(),
            }],
        }],
        sensitive: true,
        spi_cat: vec!["health".to_owned()],
        status: c.status(now),
        revoked_at: c.revoked_at.map(|t| t.0),
        data_from: c.data_from,
        include_notes: c.include_notes,
        privacy: receipt_privacy(row.privacy_mode, row.epsilon_per_year),
    }
}

fn consent_view(row: WithOrg, types: Vec<String>, now: Ts) -> ConsentView {
    let receipt = receipt(&row, &types, now);
    let privacy = receipt_privacy(row.privacy_mode, row.epsilon_per_year);
    let (c, org_name) = (row.consent, row.organization_name);
    ConsentView {
        id: c.id.0,
        organization_id: c.organization_id.0,
        organization_name: org_name,
        data_from: c.data_from,
        include_notes: c.include_notes,
        organization_privacy: privacy,
        status: c.status(now),
        measurement_types: types,
        include_points: c.include_points,
        access: c.access.as_str().to_owned(),
        purpose: c.purpose,
        expires_at: c.expires_at.map(|t| t.0),
        created_at: c.created_at.0,
        revoked_at: c.revoked_at.map(|t| t.0),
        revoked_reason: c.revoked_reason,
        receipt,
    }
}

/// Loads the types of each consent and builds the views.
fn consent_views(c: &mut crate::db::DbConn, rows: Vec<WithOrg>) -> AppResult<Vec<ConsentView>> {
    let ids: Vec<ConsentId> = rows.iter().map(|r| r.consent.id).collect();
    let mut types: HashMap<ConsentId, Vec<String>> = HashMap::new();
    for (id, t) in consents::types_of(c, &ids)? {
        types.entry(id).or_default().push(t);
    }
    let now = Ts::now();
    Ok(rows
        .into_iter()
        .map(|row| {
            let t = types.remove(&row.consent.id).unwrap_or_default();
            consent_view(row, t, now)
        })
        .collect())
}

fn one_consent(c: &mut crate::db::DbConn, user: UserId, id: ConsentId) -> AppResult<ConsentView> {
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
pub(super) async fn give_consent(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<ConsentInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let today = crate::calendar::today_in(&who.user.timezone);
    let new = new_consent(body.into_inner(), today)?;
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

/// The consent a request asks for, checked field by field against the resident's `today`.
fn new_consent(input: ConsentInput, today: chrono::NaiveDate) -> AppResult<NewConsent> {
    let expires_at = input.expires_at.map(Ts::from);
    let checked = consents::validate(&input.measurement_types, &input.purpose, expires_at, Ts::now());
    let data_from = consents::check_data_from(input.data_from, today);
    let ((types, purpose), data_from) = match (checked, data_from) {
        (Ok(c), Ok(d)) => (c, d),
        (c, d) => {
            let mut errors = c.err().unwrap_or_default();
            errors.extend(d.err());
            return Err(AppError::Validation(errors));
        }
    };
    Ok(NewConsent {
        organization_id: OrgId(input.organization_id),
        measurement_types: types,
        include_points: input.include_points,
        access: input.access,
        purpose,
        expires_at,
        data_from,
        include_notes: input.include_notes,
    })
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
pub(super) async fn list_consents(
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
    Ok(web::Json(Paged::from_rows(page, views, |v| ConsentId(v.id), |v| v)))
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
pub(super) async fn get_consent(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<ConsentId>,
) -> AppResult<web::Json<ConsentView>> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, path.into_inner());
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
pub(super) async fn get_receipt(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<ConsentId>,
) -> AppResult<web::Json<ConsentReceipt>> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, path.into_inner());
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
pub(super) async fn revoke_consent(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<ConsentId>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, path.into_inner());
    if state.tx(move |c| Ok(consents::revoke(c, user, id)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}
