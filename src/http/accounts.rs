//! Auth and account routes: register, login, refresh, logout, the profile, password change,
//! erasure, app tokens, kiosk pairing, and the operators' account lookup.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::accounts::erasure::{self, Erasure};
use crate::accounts::password::{self, Password};
use crate::accounts::tokens::{self, AppToken, IssuedRefresh, Modality, Rotation, Scope};
use crate::accounts::{self, NewUser, ProfileChanges, Role, Sex, User};
use crate::db::{Id, Ts};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};

// ---- request and response types ----

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

/// A resident's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Account id.
    pub id: uuid::Uuid,
    /// Login email.
    pub email: String,
    /// Name shown in apps.
    pub display_name: Option<String>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    pub sex: Sex,
    /// IANA timezone.
    pub timezone: String,
    /// Account role.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the profile last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id.0,
            role: u.role(),
            sex: Sex::parse(&u.sex).unwrap_or(Sex::Unknown),
            email: u.email,
            display_name: u.display_name,
            birth_date: u.birth_date,
            timezone: u.timezone,
            created_at: u.created_at.0,
            updated_at: u.updated_at.0,
        }
    }
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

fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/me` body: only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMeRequest {
    /// New display name; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    pub display_name: Option<Option<String>>,
    /// New date of birth, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub birth_date: Option<String>,
    /// New sex.
    #[schema(value_type = Option<Sex>)]
    pub sex: Option<String>,
    /// New IANA timezone.
    pub timezone: Option<String>,
}

/// `POST /v1/me/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The current password.
    #[schema(value_type = String, format = Password)]
    pub current_password: Password,
    /// The new password: 12 characters to 1,024 bytes.
    #[schema(value_type = String, format = Password, min_length = 12)]
    pub new_password: Password,
}

/// `DELETE /v1/me` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseAccountRequest {
    /// The account's password, to confirm the erasure.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

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
    /// Whether the app's data is device-measured (`sensed`) or typed in (`self_reported`, the default).
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
}

impl From<AppToken> for AppTokenView {
    fn from(t: AppToken) -> Self {
        AppTokenView {
            id: t.id.0,
            scopes: tokens::parse_scopes(&t.scopes),
            modality: Modality::parse(&t.modality).unwrap_or(Modality::SelfReported),
            name: t.name,
            created_at: t.created_at.0,
            expires_at: t.expires_at.0,
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
}

fn created_view(t: AppToken, secret: String) -> AppTokenCreated {
    let v = AppTokenView::from(t);
    AppTokenCreated {
        id: v.id,
        token: secret,
        name: v.name,
        scopes: v.scopes,
        modality: v.modality,
        created_at: v.created_at,
        expires_at: v.expires_at,
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

/// A kiosk pairing code.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairingCodeView {
    /// 8 characters to type or scan at the kiosk; single use.
    #[schema(example = "7KQ2M9XD")]
    pub code: String,
    /// Ten minutes from now.
    pub expires_at: DateTime<Utc>,
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

// ---- helpers ----

fn token_pair(state: &AppState, user_id: Id, role: Role, refresh: IssuedRefresh) -> AppResult<TokenPair> {
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

fn fail_if_any(errors: Vec<FieldError>) -> AppResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

async fn hash_password(pw: Password) -> AppResult<String> {
    web::block(move || password::hash(&pw)).await?
}

async fn verify_password(pw: Password, stored: Option<String>) -> AppResult<bool> {
    Ok(web::block(move || password::verify(&pw, stored.as_deref())).await?)
}

fn client_addr(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

// ---- auth ----

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
async fn register(state: web::Data<AppState>, body: web::Json<RegisterRequest>) -> AppResult<HttpResponse> {
    let r = body.into_inner();
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
    let new = NewUser {
        id: Id::new(),
        email,
        password_hash: hash_password(r.password).await?,
        display_name,
        birth_date,
        sex: sex.unwrap_or(Sex::Unknown).as_str().to_owned(),
        timezone: timezone.to_owned(),
        role: Role::Resident.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    };
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
async fn login(
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
async fn refresh_tokens(
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
async fn logout(state: web::Data<AppState>, body: web::Json<RefreshRequest>) -> AppResult<HttpResponse> {
    let presented = body.into_inner().refresh_token;
    state.tx(move |c| Ok(tokens::logout(c, &presented)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- the signed-in account ----

/// The caller's profile.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    responses((status = 200, description = "Profile", body = UserView))
)]
#[get("/v1/me")]
async fn get_me(who: Principal) -> AppResult<web::Json<UserView>> {
    who.require(Scope::Account)?;
    Ok(web::Json(who.user.into()))
}

/// Changes profile fields; absent fields stay as they are.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body = PatchMeRequest,
    responses(
        (status = 200, description = "Updated profile", body = UserView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/v1/me")]
async fn patch_me(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<PatchMeRequest>,
) -> AppResult<web::Json<UserView>> {
    who.require(Scope::Account)?;
    let p = body.into_inner();
    let mut errors = Vec::new();
    let mut changes = ProfileChanges {
        display_name: p
            .display_name
            .map(|n| n.map(|n| accounts::check_display_name(&n, &mut errors))),
        ..ProfileChanges::default()
    };
    if let Some(d) = p.birth_date.as_deref() {
        changes.birth_date = Some(accounts::parse_birth_date(d, &mut errors));
    }
    if let Some(s) = p.sex.as_deref() {
        changes.sex = accounts::parse_sex(s, &mut errors).map(|s| s.as_str().to_owned());
    }
    if let Some(tz) = p.timezone.as_deref() {
        changes.timezone = accounts::parse_timezone(tz, &mut errors).map(|_| tz.to_owned());
    }
    fail_if_any(errors)?;
    changes.updated_at = Some(Ts::now());
    let user = state
        .tx(move |c| {
            let user = accounts::update_profile(c, who.user_id, &changes)?;
            // Age bands and sex are part of the aggregate cells: rebuild them with the profile.
            if user.birth_date != who.user.birth_date || user.sex != who.user.sex {
                let subject = crate::aggregates::rollup::Subject {
                    user_id: user.id,
                    birth_date: user.birth_date,
                    sex: user.sex.clone(),
                };
                crate::aggregates::rollup::rebuild(c, &subject)?;
            }
            Ok(user)
        })
        .await?;
    Ok(web::Json(user.into()))
}

/// Changes the password; every other session of the account is signed out.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "Password changed; other sessions revoked"),
        (status = 403, description = "The current password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))
    )
)]
#[post("/v1/me/password")]
async fn change_password(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<PasswordChangeRequest>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let PasswordChangeRequest {
        current_password,
        new_password,
    } = body.into_inner();
    new_password
        .check_new("new_password")
        .map_err(|e| AppError::Validation(vec![e]))?;
    state.throttle.account_attempt(&who.user_id.to_string())?;
    if !verify_password(current_password, Some(who.user.password_hash.clone())).await? {
        return Err(AppError::Forbidden("the current password is wrong"));
    }
    let hash = hash_password(new_password).await?;
    let keep = who.session_id();
    state
        .tx(move |c| {
            accounts::set_password_hash(c, who.user_id, &hash)?;
            tokens::revoke_other_sessions(c, who.user_id, keep, "password_change")?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases the account and everything held about the resident, confirmed with the password.
///
/// Measurements, points, lottery entries and wins, memberships, consents, staff roles, sessions,
/// app tokens and pairing codes go in one transaction; every token of the account fails from the
/// next request on, and the email may be registered again as a new account. Organisations' access
/// logs and audit records keep the fact that a read or query happened, pointing at no one. The
/// last operator account cannot be erased.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body = EraseAccountRequest,
    responses(
        (status = 204, description = "Erased; every token of the account is revoked"),
        (status = 403, description = "The password is wrong, or the credential is not a login session; nothing changed",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last operator account cannot be erased (`last-operator`); nothing changed",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))
    )
)]
#[delete("/v1/me")]
async fn erase_me(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<EraseAccountRequest>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let EraseAccountRequest { password } = body.into_inner();
    // The same budget as password changes: a stolen access token cannot guess its way to erasure.
    state.throttle.account_attempt(&who.user_id.to_string())?;
    if !verify_password(password, Some(who.user.password_hash.clone())).await? {
        return Err(AppError::Forbidden("the password is wrong"));
    }
    let outcome = state.tx(move |c| Ok(erasure::erase(c, who.user_id)?)).await?;
    match outcome {
        Erasure::Erased => Ok(HttpResponse::NoContent().finish()),
        Erasure::LastOperator => Err(AppError::StateConflict {
            slug: "last-operator",
            detail: "the last operator account cannot be erased; make another account an operator first".to_owned(),
        }),
    }
}

// ---- app tokens ----

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
async fn create_app_token(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<CreateAppTokenRequest>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let r = body.into_inner();
    let mut errors = Vec::new();
    let name = r.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    let mut scopes = Vec::new();
    for (i, s) in r.scopes.iter().enumerate() {
        match Scope::parse(s).filter(|s| s.grantable_to_apps()) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "must be one of measurements:write, measurements:read, points:read",
            )),
        }
    }
    if r.scopes.is_empty() {
        errors.push(FieldError::new("scopes", "must name at least one scope"));
    }
    let days = r.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        errors.push(FieldError::new("expires_in_days", "must be between 1 and 365"));
    }
    let modality = match r.modality.as_deref() {
        None => Modality::SelfReported,
        Some(m) => Modality::parse(m).unwrap_or_else(|| {
            errors.push(FieldError::new("modality", "must be sensed or self_reported"));
            Modality::SelfReported
        }),
    };
    fail_if_any(errors)?;
    let (token, secret) = state
        .tx(move |c| {
            Ok(tokens::create_app_token(
                c,
                who.user_id,
                &name,
                &scopes,
                modality,
                days,
            )?)
        })
        .await?;
    Ok(HttpResponse::Created().json(created_view(token, secret)))
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
async fn list_app_tokens(
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
async fn revoke_app_token(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let id = Id(path.into_inner());
    let revoked = state
        .tx(move |c| Ok(tokens::revoke_app_token(c, who.user_id, id)?))
        .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

// ---- kiosk pairing ----

/// Creates a single-use, ten-minute pairing code for a kiosk.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    responses((status = 201, description = "Pairing code", body = PairingCodeView))
)]
#[post("/v1/me/pairing-codes")]
async fn create_pairing_code(state: web::Data<AppState>, who: Principal) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let (code, expires_at) = state
        .tx(move |c| Ok(tokens::create_pairing_code(c, who.user_id)?))
        .await?;
    Ok(HttpResponse::Created().json(PairingCodeView {
        code,
        expires_at: expires_at.0,
    }))
}

/// A kiosk exchanges a pairing code for an app token with `measurements:write` (`sensed`).
/// No authentication: the code is the credential. Throttled per client address.
#[utoipa::path(
    tag = "auth",
    request_body = ClaimRequest,
    responses(
        (status = 201, description = "App token for the kiosk", body = AppTokenCreated),
        (status = 404, description = "Unknown, expired or already used code", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))
    )
)]
#[post("/v1/pairing/claim")]
async fn claim_pairing_code(
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
    state.throttle.address_attempt(client_addr(&req))?;
    let claimed = state
        .tx(move |c| Ok(tokens::claim_pairing_code(c, &code, &device_name)?))
        .await?;
    let (token, secret) = claimed.ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Created().json(created_view(token, secret)))
}

// ---- operators ----

/// An account by id (operators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/users/{id}")]
async fn admin_get_user(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<UserView>> {
    who.require_admin()?;
    let id = Id(path.into_inner());
    let user = state.db(move |c| Ok(accounts::find(c, id)?)).await?;
    Ok(web::Json(user.into()))
}

/// Registers the account routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh_tokens)
        .service(logout)
        .service(get_me)
        .service(patch_me)
        .service(change_password)
        .service(erase_me)
        .service(create_app_token)
        .service(list_app_tokens)
        .service(revoke_app_token)
        .service(create_pairing_code)
        .service(claim_pairing_code)
        .service(admin_get_user);
}
