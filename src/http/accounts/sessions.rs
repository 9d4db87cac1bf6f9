//! Registration and sign-in: creating an account, logging in, rotating refresh tokens and logging
//! out, and the access/refresh token pair they answer with.

use super::profile::UserView;
use super::shared::{client_addr, fail_if_any, hash_password, verify_password};
use crate::accounts::password::Password;
use crate::accounts::tokens::{self, IssuedRefresh, Rotation};
use crate::accounts::{self, NewUser, Role, Sex};
use crate::db::{Ts, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/register` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Login email (case-insensitive).
    #[schema(format = Email, example = "hanako@example.jp")]
    pub email: String,
    /// 12 characters to 1,024 bytes.
    #[schema(value_type = String, format = Password, min_length = 12)]
    pub password: Password,
    /// Name shown in apps, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`, from 1900-01-01 to today.
    #[schema(format = Date, example = "1980-04-01")]
    pub birth_date: String,
    /// One of `female`, `male`, `other`, `unknown`.
    #[schema(value_type = Sex)]
    pub sex: String,
    /// IANA timezone that defines the resident's day (default `Asia/Tokyo`).
    #[schema(example = "Asia/Tokyo")]
    pub timezone: Option<String>,
}

/// `POST /v1/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login email.
    pub email: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// `POST /v1/auth/refresh` and `POST /v1/auth/logout` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from login, register or the previous refresh.
    pub refresh_token: String,
}

/// An access token and a refresh token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// JWT for the `Authorization: Bearer` header; valid for `expires_in` seconds.
    pub access_token: String,
    /// Opaque, single-use token for `POST /v1/auth/refresh`; valid for 30 days.
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds (900).
    pub expires_in: i64,
}

/// `POST /v1/auth/register` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    /// The new account.
    pub user: UserView,
    /// JWT access token.
    pub access_token: String,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
}

fn token_pair(state: &AppState, user_id: UserId, role: Role, refresh: IssuedRefresh) -> AppResult<TokenPair> {
    let access_token = state
        .keys
        .issue(user_id, role, refresh.session_id)
        .map_err(AppError::internal)?;
    Ok(TokenPair {
        access_token,
        refresh_token: refresh.token,
        token_type: "Bearer",
        expires_in: tokens::ACCESS_TTL.num_seconds(),
    })
}

/// Creates a resident account and signs it in.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisterResponse),
        (status = 409, description = "An account with this email exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/auth/register")]
pub(super) async fn register(state: web::Data<AppState>, body: web::Json<RegisterRequest>) -> AppResult<HttpResponse> {
    let new = new_user(body.into_inner()).await?;
    let (user, refresh) = state
        .tx(move |c| {
            let user = accounts::insert(c, &new).map_err(|e| match AppError::from(e) {
                AppError::Conflict(_) => AppError::Conflict("an account with this email already exists".to_owned()),
                other => other,
            })?;
            let refresh = tokens::start_session(c, user.id)?;
            Ok((user, refresh))
        })
        .await?;
    let pair = token_pair(&state, user.id, user.role(), refresh)?;
    Ok(HttpResponse::Created().json(RegisterResponse {
        user: user.into(),
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: pair.token_type,
        expires_in: pair.expires_in,
    }))
}

/// The account a registration asks for, checked field by field, with its password hashed (on the
/// blocking pool).
async fn new_user(r: RegisterRequest) -> AppResult<NewUser> {
    let mut errors = Vec::new();
    let email = accounts::normalize_email(&r.email, &mut errors);
    if let Err(e) = r.password.check_new("password") {
        errors.push(e);
    }
    let display_name = r
        .display_name
        .as_deref()
        .map(|n| accounts::check_display_name(n, &mut errors));
    let birth_date = accounts::parse_birth_date(&r.birth_date, &mut errors);
    let sex = accounts::parse_sex(&r.sex, &mut errors);
    let timezone = r.timezone.as_deref().unwrap_or(accounts::DEFAULT_TIMEZONE);
    accounts::parse_timezone(timezone, &mut errors);
    fail_if_any(errors)?;
    let now = Ts::now();
    Ok(NewUser {
        id: UserId::new(),
        email,
        password_hash: hash_password(r.password).await?,
        display_name,
        birth_date,
        sex: sex.unwrap_or(Sex::Unknown).as_str().to_owned(),
        timezone: timezone.to_owned(),
        role: Role::Resident.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    })
}

/// Signs in with email and password. Unknown email and wrong password answer identically.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))
    )
)]
#[post("/v1/auth/login")]
pub(super) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> AppResult<web::Json<TokenPair>> {
    let LoginRequest { email, password } = body.into_inner();
    let email = email.trim().to_lowercase();
    state.throttle.login_attempt(&email, client_addr(&req))?;
    let user = state.db(move |c| Ok(accounts::find_by_email(c, &email)?)).await?;
    // Verify even when the email is unknown (against a dummy hash) so both cost the same.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if !verify_password(password, stored).await? {
        return Err(AppError::Unauthorized);
    }
    let user = user.ok_or(AppError::Unauthorized)?;
    let user_id = user.id;
    let refresh = state.tx(move |c| Ok(tokens::start_session(c, user_id)?)).await?;
    Ok(web::Json(token_pair(&state, user.id, user.role(), refresh)?))
}

/// Exchanges a refresh token for a new pair. The old refresh token stops working; presenting an
/// already-rotated one revokes its whole session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenPair),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/v1/auth/refresh")]
pub(super) async fn refresh_tokens(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> AppResult<web::Json<TokenPair>> {
    let presented = body.into_inner().refresh_token;
    let outcome = state.tx(move |c| Ok(tokens::rotate(c, &presented)?)).await?;
    match outcome {
        Rotation::Rotated(user, refresh) => Ok(web::Json(token_pair(&state, user.id, user.role(), refresh)?)),
        Rotation::ReuseDetected => {
            tracing::warn!("refresh token reuse detected; session revoked");
            Err(AppError::Unauthorized)
        }
        Rotation::Invalid => Err(AppError::Unauthorized),
    }
}

/// Ends the session of a refresh token. Unknown tokens are accepted silently.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out"))
)]
#[post("/v1/auth/logout")]
pub(super) async fn logout(state: web::Data<AppState>, body: web::Json<RefreshRequest>) -> AppResult<HttpResponse> {
    let presented = body.into_inner().refresh_token;
    state.tx(move |c| Ok(tokens::logout(c, &presented)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}
