//! The app token store: long-lived tokens with scopes and a modality, created, listed, revoked and
//! authenticated by their hash.

use super::scopes::{Modality, Scope, format_scopes};
use super::secrets::{hash_secret, random_hex};
use crate::accounts::User;
use crate::db::schema::{app_tokens, users};
use crate::db::{AppId, AppTokenId, DbConn, Ts, UserId};
use chrono::Duration;
use diesel::prelude::*;

const APP_TOKEN_PREFIX: &str = "kat_";

/// Whether a bearer string is an app token (rather than a JWT).
pub fn is_app_token(bearer: &str) -> bool {
    bearer.starts_with(APP_TOKEN_PREFIX)
}

/// An app token row (never includes the secret).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = app_tokens)]
pub struct AppToken {
    /// Token id.
    pub id: AppTokenId,
    /// Owner.
    pub user_id: UserId,
    /// Name given by the resident or the device.
    pub name: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// `sensed` or `self_reported`.
    pub modality: String,
    /// Creation time.
    pub created_at: Ts,
    /// Expiry.
    pub expires_at: Ts,
    /// The registered app that claimed it, if one did (only then may it be `sensed`).
    pub app_id: Option<AppId>,
}

/// What an app token authenticates as.
#[derive(Debug, Clone)]
pub struct AppTokenAuth {
    /// The token row.
    pub token: AppToken,
    /// The owner.
    pub user: User,
}

/// Creates an app token; returns the row and the secret (shown once). `app_id` names the
/// registered app it is for, whose word alone makes a token `sensed`.
pub fn create_app_token(
    conn: &mut DbConn,
    user_id: UserId,
    name: &str,
    scopes: &[Scope],
    modality: Modality,
    ttl_days: i64,
    app_id: Option<AppId>,
) -> QueryResult<(AppToken, String)> {
    let now = Ts::now();
    let id = AppTokenId::new();
    let secret = format!("{APP_TOKEN_PREFIX}{}", random_hex(32));
    diesel::insert_into(app_tokens::table)
        .values((
            app_tokens::id.eq(id),
            app_tokens::user_id.eq(user_id),
            app_tokens::name.eq(name),
            app_tokens::token_hash.eq(hash_secret(&secret)),
            app_tokens::scopes.eq(format_scopes(scopes)),
            app_tokens::modality.eq(modality.as_str()),
            app_tokens::created_at.eq(now),
            app_tokens::expires_at.eq(now.plus(Duration::days(ttl_days))),
            app_tokens::app_id.eq(app_id),
        ))
        .execute(conn)?;
    let row = app_tokens::table.find(id).select(AppToken::as_select()).first(conn)?;
    Ok((row, secret))
}

/// A page of the resident's live (unrevoked, unexpired) app tokens, oldest first, after `after`.
pub fn list_app_tokens(
    conn: &mut DbConn,
    user_id: UserId,
    after: Option<AppTokenId>,
    limit: i64,
) -> QueryResult<Vec<AppToken>> {
    let mut q = app_tokens::table
        .filter(app_tokens::user_id.eq(user_id))
        .filter(app_tokens::revoked_at.is_null())
        .filter(app_tokens::expires_at.gt(Ts::now()))
        .select(AppToken::as_select())
        .order(app_tokens::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(app_tokens::id.gt(after));
    }
    q.load(conn)
}

/// Revokes one of the resident's app tokens; false if there is no such live token of theirs.
pub fn revoke_app_token(conn: &mut DbConn, user_id: UserId, id: AppTokenId) -> QueryResult<bool> {
    let n = diesel::update(
        app_tokens::table
            .filter(app_tokens::id.eq(id))
            .filter(app_tokens::user_id.eq(user_id))
            .filter(app_tokens::revoked_at.is_null()),
    )
    .set(app_tokens::revoked_at.eq(Ts::now()))
    .execute(conn)?;
    Ok(n == 1)
}

/// The live app token with this secret, and its owner.
pub fn authenticate_app_token(conn: &mut DbConn, secret: &str) -> QueryResult<Option<AppTokenAuth>> {
    app_tokens::table
        .inner_join(users::table)
        .filter(app_tokens::token_hash.eq(hash_secret(secret)))
        .filter(app_tokens::revoked_at.is_null())
        .filter(app_tokens::expires_at.gt(Ts::now()))
        .select((AppToken::as_select(), User::as_select()))
        .first(conn)
        .optional()
        .map(|r| r.map(|(token, user)| AppTokenAuth { token, user }))
}
