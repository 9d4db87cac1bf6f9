//! A resident's app tokens: creating one (its secret shown once), listing the live ones and revoking
//! one.

use super::shared::fail_if_any;
use crate::accounts::tokens::{self, AppToken, Modality, Scope, app_scopes};
use crate::db::AppTokenId;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/me/app-tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppTokenRequest {
    /// A name the resident will recognise, 1–100 characters.
    #[schema(min_length = 1, max_length = 100, example = "Pedometer")]
    pub name: String,
    /// At least one of `measurements:write`, `measurements:read`, `points:read` (`account` is never
    /// granted to an app).
    #[schema(value_type = Vec<Scope>, min_items = 1, example = json!(["measurements:write"]))]
    pub scopes: Vec<String>,
    /// 1–365 days (default 90).
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<i64>,
    /// Always `self_reported` (the default): a token a resident makes carries their own word.
    /// `sensed` is 422 — only a registered app's claim of a pairing code makes a sensed token.
    #[schema(value_type = Option<Modality>)]
    pub modality: Option<String>,
}

/// An app token as listed (the secret is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppTokenView {
    /// Token id.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Modality of data sent with it.
    pub modality: Modality,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The registered app that claimed it (null: made by the resident, or claimed without client
    /// credentials).
    pub app_id: Option<uuid::Uuid>,
}

impl From<AppToken> for AppTokenView {
    fn from(t: AppToken) -> Self {
        AppTokenView {
            id: t.id.0,
            scopes: tokens::parse_scopes(&t.scopes),
            modality: Modality::from_stored(&t.modality),
            name: t.name,
            created_at: t.created_at.0,
            expires_at: t.expires_at.0,
            app_id: t.app_id.map(|a| a.0),
        }
    }
}

/// A newly created app token, with its secret (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppTokenCreated {
    /// Token id.
    pub id: uuid::Uuid,
    /// The secret, for `Authorization: Bearer`. Shown only now.
    pub token: String,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Modality of data sent with it.
    pub modality: Modality,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The registered app that claimed it, if one did.
    pub app_id: Option<uuid::Uuid>,
}

pub(crate) fn created_view(t: AppToken, secret: String) -> AppTokenCreated {
    let v = AppTokenView::from(t);
    AppTokenCreated {
        id: v.id,
        token: secret,
        name: v.name,
        scopes: v.scopes,
        modality: v.modality,
        created_at: v.created_at,
        expires_at: v.expires_at,
        app_id: v.app_id,
    }
}

/// A page of app tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppTokenPage {
    /// The tokens of this page, oldest first.
    pub items: Vec<AppTokenView>,
    /// Cursor for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Creates an app token with the given scopes. The secret is in this answer only.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body = CreateAppTokenRequest,
    responses(
        (status = 201, description = "Token created", body = AppTokenCreated),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/me/app-tokens")]
pub(super) async fn create_app_token(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<CreateAppTokenRequest>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let (name, scopes, days) = valid_app_token(body.into_inner())?;
    let (token, secret) = state
        .tx(move |c| {
            Ok(tokens::create_app_token(
                c,
                who.user_id,
                &name,
                &scopes,
                Modality::SelfReported,
                days,
                None,
            )?)
        })
        .await?;
    Ok(HttpResponse::Created().json(created_view(token, secret)))
}

/// A resident's app token request, checked field by field: its name, scopes (without repeats)
/// and lifetime in days. A resident's token carries the resident's word: `sensed` is for
/// registered apps to claim.
fn valid_app_token(r: CreateAppTokenRequest) -> AppResult<(String, Vec<Scope>, i64)> {
    let mut errors = Vec::new();
    let name = r.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    let scopes = app_scopes(&r.scopes, &mut errors);
    let days = r.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        errors.push(FieldError::new("expires_in_days", "must be between 1 and 365"));
    }
    match r.modality.as_deref().map(Modality::parse) {
        None | Some(Some(Modality::SelfReported)) => {}
        Some(Some(Modality::Sensed)) => errors.push(FieldError::new(
            "modality",
            "a token you make is self_reported: sensed tokens come from registered apps and kiosks claiming a pairing code",
        )),
        Some(None) => errors.push(FieldError::new("modality", "must be self_reported")),
    }
    fail_if_any(errors)?;
    Ok((name, scopes, days))
}

/// The caller's live app tokens, oldest first.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = AppTokenPage),
        (status = 400, description = "Malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/app-tokens")]
pub(super) async fn list_app_tokens(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<AppTokenPage>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let rows = state
        .db(move |c| {
            Ok(tokens::list_app_tokens(
                c,
                who.user_id,
                page.after,
                PageQuery::fetch(page),
            )?)
        })
        .await?;
    let paged = Paged::from_rows(page, rows, |t| t.id, AppTokenView::from);
    Ok(web::Json(AppTokenPage {
        items: paged.items,
        next_cursor: paged.next_cursor,
    }))
}

/// Revokes one of the caller's app tokens at once.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live token of the caller's", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/me/app-tokens/{id}")]
pub(super) async fn revoke_app_token(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<AppTokenId>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let id = path.into_inner();
    let revoked = state
        .tx(move |c| Ok(tokens::revoke_app_token(c, who.user_id, id)?))
        .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}
