//! The signed-in account: its profile, profile changes, password change and erasure, and the
//! operators' lookup of an account by id.

use super::shared::{fail_if_any, hash_password, verify_password};
use crate::accounts::erasure::Erasure;
use crate::accounts::password::Password;
use crate::accounts::tokens::{self, Scope};
use crate::accounts::{self, ProfileChanges, Role, Sex, User};
use crate::db::{Ts, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::{Operator, Principal};
use crate::usecases;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

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

/// The caller's profile.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    responses((status = 200, description = "Profile", body = UserView))
)]
#[get("/v1/me")]
pub(super) async fn get_me(who: Principal) -> AppResult<web::Json<UserView>> {
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
pub(super) async fn patch_me(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<PatchMeRequest>,
) -> AppResult<web::Json<UserView>> {
    who.require(Scope::Account)?;
    let changes = profile_changes(body.into_inner())?;
    let before = who.user.clone();
    let user = state
        .db(move |c| Ok(usecases::profile::update(c, &before, &changes)?))
        .await?;
    Ok(web::Json(user.into()))
}

/// The changes a profile request asks for, checked field by field.
fn profile_changes(p: PatchMeRequest) -> AppResult<ProfileChanges> {
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
    Ok(changes)
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
pub(super) async fn change_password(
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
pub(super) async fn erase_me(
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
    let outcome = state
        .db(move |c| Ok(crate::usecases::erasure::erase(c, who.user_id)?))
        .await?;
    match outcome {
        Erasure::Erased => Ok(HttpResponse::NoContent().finish()),
        Erasure::LastOperator => Err(AppError::StateConflict {
            refusal: crate::error::Refusal::LastOperator,
            detail: "the last operator account cannot be erased; make another account an operator first".to_owned(),
        }),
    }
}

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
pub(super) async fn admin_get_user(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<UserId>,
) -> AppResult<web::Json<UserView>> {
    let id = path.into_inner();
    let user = state.db(move |c| Ok(accounts::find(c, id)?)).await?;
    Ok(web::Json(user.into()))
}
