//! Registered apps and kiosks: operators register them (`/v1/admin/apps`), and an app's server
//! claims a resident's pairing code with its client credentials (`POST /v1/apps/claim`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::apps::{self, AppKind, RegisteredApp};
use crate::accounts::tokens::{self, Claimant, Claimed, Modality, Scope};
use crate::db::AppId;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::accounts::{AppTokenCreated, created_view};
use crate::http::auth::Operator;

/// `POST /v1/admin/apps` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAppRequest {
    /// Name, 1–100 characters: the name residents see on the tokens it claims.
    #[schema(min_length = 1, max_length = 100, example = "Omron Connect")]
    pub name: String,
    /// `app` (an app's server, claims at `/v1/apps/claim`) or `kiosk` (a measurement kiosk, claims
    /// at `/v1/pairing/claim`).
    #[schema(value_type = AppKind)]
    pub kind: String,
    /// The scopes its tokens may hold: at least one of `measurements:write`, `measurements:read`,
    /// `points:read`.
    #[schema(value_type = Vec<AppScope>, min_items = 1)]
    pub scopes: Vec<String>,
    /// The modality of the data its tokens upload: `sensed` for a device the platform vouches for.
    #[schema(value_type = Modality)]
    pub modality: String,
}

/// A scope an app's or kiosk's token may hold (`account` is for login sessions only).
// Only its schema is used: requests carry the names, which `Scope::parse` reads.
#[derive(Serialize, ToSchema)]
#[expect(dead_code, reason = "only its schema is used")]
enum AppScope {
    /// Upload measurements.
    #[serde(rename = "measurements:write")]
    MeasurementsWrite,
    /// Read the resident's measurements.
    #[serde(rename = "measurements:read")]
    MeasurementsRead,
    /// Read the resident's points.
    #[serde(rename = "points:read")]
    PointsRead,
}

/// A registered app (its secret is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    /// Id: what a resident names in `POST /v1/me/pairing-codes` {app_id}.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// `app` or `kiosk`.
    pub kind: AppKind,
    /// Scopes its tokens may hold.
    pub scopes: Vec<Scope>,
    /// Modality of its tokens.
    pub modality: Modality,
    /// The public half of its credentials (HTTP Basic user name).
    pub client_id: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl From<RegisteredApp> for AppView {
    fn from(a: RegisteredApp) -> Self {
        AppView {
            id: a.id.0,
            kind: a.kind(),
            scopes: a.scopes(),
            modality: a.modality(),
            name: a.name,
            client_id: a.client_id,
            created_at: a.created_at.0,
        }
    }
}

/// A newly registered app, with its client secret (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppCreated {
    /// The app's id: what a kiosk's pairing claim and the operator's routes name it by.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// `app` or `kiosk`.
    pub kind: AppKind,
    /// Scopes its tokens may hold.
    pub scopes: Vec<Scope>,
    /// Modality of its tokens.
    pub modality: Modality,
    /// HTTP Basic user name.
    pub client_id: String,
    /// HTTP Basic password. Shown only now; stored as a hash.
    pub client_secret: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/admin/apps` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    /// Every app in service, oldest first.
    pub items: Vec<AppView>,
}

/// `POST /v1/apps/claim` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppClaimRequest {
    /// The code the resident gave the app (case and dashes are ignored).
    #[schema(min_length = 8, max_length = 16, example = "7KQ2M9XD")]
    pub code: String,
}

/// The registered app whose HTTP Basic client credentials the request carries. `Ok(None)` when it
/// carries no `Authorization` header at all; 401 for another scheme, malformed credentials, or
/// credentials of no app in service.
pub(crate) async fn client(state: &AppState, req: &HttpRequest) -> AppResult<Option<RegisteredApp>> {
    use base64::Engine;
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AppError::ClientUnauthorized)?;
    let (scheme, encoded) = value.split_once(' ').ok_or(AppError::ClientUnauthorized)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AppError::ClientUnauthorized);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AppError::ClientUnauthorized)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AppError::ClientUnauthorized)?;
    let (client_id, secret) = decoded.split_once(':').ok_or(AppError::ClientUnauthorized)?;
    let (client_id, secret) = (client_id.to_owned(), secret.to_owned());
    let app = state
        .db(move |c| Ok(apps::authenticate(c, &client_id, &secret)?))
        .await?;
    app.map(Some).ok_or(AppError::ClientUnauthorized)
}

/// Claims `code` for `claimant`, naming the token `name`: 201 with the token, 404 for a code that
/// is unknown, expired, spent or meant for another app, 403 when nothing it allows may be granted.
pub(crate) async fn claim(
    state: &AppState,
    code: String,
    claimant: Option<RegisteredApp>,
    name: String,
) -> AppResult<HttpResponse> {
    let claimed = state
        .tx(move |c| {
            let who = claimant.as_ref().map_or(Claimant::Anonymous, Claimant::App);
            Ok(tokens::claim_pairing_code(c, &code, who, &name)?)
        })
        .await?;
    match claimed {
        Claimed::Token(token, secret) => Ok(HttpResponse::Created().json(created_view(token, secret))),
        Claimed::NotFound => Err(AppError::NotFound),
        Claimed::NoScope => Err(AppError::Forbidden(
            "this code allows no scope this claimant may be granted",
        )),
    }
}

fn check_registration(r: RegisterAppRequest) -> AppResult<(String, AppKind, Vec<Scope>, Modality)> {
    let mut errors = Vec::new();
    let name = r.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    let kind = AppKind::parse(&r.kind);
    if kind.is_none() {
        errors.push(FieldError::new("kind", "must be app or kiosk"));
    }
    let scopes = tokens::app_scopes(&r.scopes, &mut errors);
    let modality = Modality::parse(&r.modality);
    if modality.is_none() {
        errors.push(FieldError::new("modality", "must be sensed or self_reported"));
    }
    match (kind, modality) {
        (Some(kind), Some(modality)) if errors.is_empty() => Ok((name, kind, scopes, modality)),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Registers an app or kiosk; the answer holds its client secret, shown only now.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = RegisterAppRequest,
    responses(
        (status = 201, description = "Registered", body = AppCreated),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/apps")]
async fn admin_register_app(
    state: web::Data<AppState>,
    _: Operator,
    body: web::Json<RegisterAppRequest>,
) -> AppResult<HttpResponse> {
    let (name, kind, scopes, modality) = check_registration(body.into_inner())?;
    let (app, secret) = state
        .tx(move |c| Ok(apps::register(c, &name, kind, &scopes, modality)?))
        .await?;
    let v = AppView::from(app);
    Ok(HttpResponse::Created().json(AppCreated {
        id: v.id,
        name: v.name,
        kind: v.kind,
        scopes: v.scopes,
        modality: v.modality,
        client_id: v.client_id,
        client_secret: secret,
        created_at: v.created_at,
    }))
}

/// Every registered app in service (operators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "Apps", body = AppList))
)]
#[get("/v1/admin/apps")]
async fn admin_list_apps(state: web::Data<AppState>, _: Operator) -> AppResult<web::Json<AppList>> {
    let all = state.db(|c| Ok(apps::list(c)?)).await?;
    Ok(web::Json(AppList {
        items: all.into_iter().map(AppView::from).collect(),
    }))
}

/// One registered app in service (operators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "App id")),
    responses(
        (status = 200, description = "The app", body = AppView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app in service", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/apps/{id}")]
async fn admin_get_app(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<AppId>,
) -> AppResult<web::Json<AppView>> {
    let id = path.into_inner();
    let app = state.db(move |c| Ok(apps::find(c, id)?)).await?;
    app.map(|a| web::Json(a.into())).ok_or(AppError::NotFound)
}

/// Retires an app: its credentials stop working, and so does every token it claimed.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "App id")),
    responses(
        (status = 204, description = "Retired; its tokens are revoked"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app in service", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/admin/apps/{id}")]
async fn admin_retire_app(state: web::Data<AppState>, _: Operator, path: web::Path<AppId>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    if state.tx(move |c| Ok(apps::retire(c, id)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

/// A registered app's server exchanges a resident's pairing code for a token, authenticating with
/// HTTP Basic `client_id:client_secret`. The token has the app's modality and the scopes both the
/// app and the code allow; it is named after the app. Throttled per client address (wrong codes
/// and credentials count).
#[utoipa::path(
    tag = "auth",
    request_body = AppClaimRequest,
    security(("client_credentials" = [])),
    responses(
        (status = 201, description = "App token for the resident", body = AppTokenCreated),
        (status = 401, description = "No, malformed or wrong client credentials", body = Problem,
            content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"karada\"`"))),
        (status = 403, description = "The code allows no scope the app may hold; the code is left unspent", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "Unknown, expired or spent code, or a code meant for another app", body = Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/v1/apps/claim")]
async fn apps_claim(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<AppClaimRequest>,
) -> AppResult<HttpResponse> {
    let app = client(&state, &req).await?.ok_or(AppError::ClientUnauthorized)?;
    let name = app.name.clone();
    claim(&state, body.into_inner().code, Some(app), name).await
}

/// Registers the app routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(admin_register_app)
        .service(admin_list_apps)
        .service(admin_get_app)
        .service(admin_retire_app)
        .service(apps_claim);
}
