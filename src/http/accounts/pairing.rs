//! Kiosk and app pairing: a resident creates a single-use pairing code, and a kiosk or app claims
//! it for an app token.

use super::app_tokens::AppTokenCreated;
use super::shared::fail_if_any;
use crate::accounts::tokens::{self, Scope, app_scopes};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/me/pairing-codes` body (optional: without it, any registered app or kiosk may claim
/// the code, for whatever scopes it is registered for).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairingCodeRequest {
    /// Only this registered app may claim the code.
    pub app_id: Option<uuid::Uuid>,
    /// The most the token may hold (it also holds only what the claiming app is registered for):
    /// some of `measurements:write`, `measurements:read`, `points:read`.
    #[schema(value_type = Option<Vec<Scope>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
}

/// A pairing code for a kiosk or an app.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairingCodeView {
    /// 8 characters to type or scan at the kiosk, or to give the app; single use.
    #[schema(example = "7KQ2M9XD")]
    pub code: String,
    /// Ten minutes from now.
    pub expires_at: DateTime<Utc>,
    /// The only app that may claim it, if the resident named one.
    pub app_id: Option<uuid::Uuid>,
    /// The most the token may hold, if the resident said.
    pub scopes: Option<Vec<Scope>>,
}

/// `POST /v1/pairing/claim` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The code the resident shows (case and dashes are ignored).
    #[schema(min_length = 8, max_length = 16, example = "7KQ2M9XD")]
    pub code: String,
    /// The kiosk's name, shown in the resident's token list; 1–100 characters.
    #[schema(min_length = 1, max_length = 100, example = "Pod 3, Umeda")]
    pub device_name: String,
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<actix_web::mime::Mime>().ok())
        .is_some_and(|m| m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON))
}

/// Creates a single-use, ten-minute pairing code, optionally for one registered app and at most
/// some scopes. A kiosk or app claims it; what the token may do is what both the code and the
/// claimant allow.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body = Option<PairingCodeRequest>,
    responses(
        (status = 201, description = "Pairing code", body = PairingCodeView),
        (status = 422, description = "Unknown app, or scopes no app may hold", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/me/pairing-codes")]
pub(super) async fn create_pairing_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let r = pairing_request(&req, &body)?;
    let mut errors = Vec::new();
    let scopes: Option<Vec<Scope>> = r.scopes.as_ref().map(|requested| app_scopes(requested, &mut errors));
    let app_id = r.app_id.map(crate::db::AppId);
    let (code, expires_at) = state
        .tx(move |c| {
            if let Some(app) = app_id
                && crate::accounts::apps::find(c, app)?.is_none()
            {
                errors.push(FieldError::new("app_id", "no such registered app"));
            }
            fail_if_any(errors)?;
            Ok(tokens::create_pairing_code(c, who.user_id, app_id, scopes.as_deref())?)
        })
        .await?;
    Ok(HttpResponse::Created().json(PairingCodeView {
        code,
        expires_at: expires_at.0,
        app_id: r.app_id,
        scopes: r.scopes.map(|s| s.iter().filter_map(|s| Scope::parse(s)).collect()),
    }))
}

/// The optional body of a pairing code request: clients that send none get a code any registered
/// app may claim.
fn pairing_request(req: &HttpRequest, body: &[u8]) -> AppResult<PairingCodeRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(PairingCodeRequest::default())
    } else if !is_json(req) {
        Err(AppError::UnsupportedMediaType)
    } else {
        serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// A kiosk exchanges a pairing code for an app token with `measurements:write`. A registered
/// kiosk authenticates with HTTP Basic `client_id:client_secret` and gets its modality (`sensed`)
/// and the scopes both it and the code allow; without credentials the code is the only credential
/// and the token is `self_reported` — the resident could be claiming their own code. Throttled per
/// client address (wrong codes and credentials count).
#[utoipa::path(
    tag = "auth",
    request_body = ClaimRequest,
    security((), ("client_credentials" = [])),
    responses(
        (status = 201, description = "App token for the kiosk", body = AppTokenCreated),
        (status = 401, description = "Malformed or wrong client credentials", body = Problem,
            content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"karada\"`"))),
        (status = 403, description = "The code allows no scope this claimant may be granted; the code is left unspent",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, expired or already used code, or a code meant for a registered app", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/pairing/claim")]
pub(super) async fn claim_pairing_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ClaimRequest>,
) -> AppResult<HttpResponse> {
    let ClaimRequest { code, device_name } = body.into_inner();
    let device_name = device_name.trim().to_owned();
    if device_name.is_empty() || device_name.chars().count() > 100 || device_name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "device_name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    let kiosk = crate::http::apps::client(&state, &req).await?;
    crate::http::apps::claim(&state, code, kiosk, device_name).await
}
