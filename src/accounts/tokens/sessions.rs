//! Login sessions: starting one with a refresh token, rotating the refresh token (a reused one
//! revokes its session), logging out, and signing out the account's other sessions.

use super::secrets::{hash_secret, random_hex};
use crate::accounts::User;
use crate::db::schema::{refresh_tokens, sessions};
use crate::db::{DbConn, RefreshTokenId, SessionId, Ts, UserId};
use chrono::Duration;
use diesel::prelude::*;

/// Lifetime of a refresh token (each rotation issues a new one with a fresh lifetime).
pub const REFRESH_TTL: Duration = Duration::days(30);

const REFRESH_PREFIX: &str = "krt_";

/// A refresh token as issued: the secret is shown to the client once.
#[derive(Debug)]
pub struct IssuedRefresh {
    /// The login session (refresh-token family).
    pub session_id: SessionId,
    /// The opaque token.
    pub token: String,
}

fn insert_refresh(conn: &mut DbConn, session_id: SessionId, user_id: UserId, now: Ts) -> QueryResult<String> {
    let token = format!("{REFRESH_PREFIX}{}", random_hex(32));
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(RefreshTokenId::new()),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::token_hash.eq(hash_secret(&token)),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(now.plus(REFRESH_TTL)),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Starts a login session with its first refresh token.
pub fn start_session(conn: &mut DbConn, user_id: UserId) -> QueryResult<IssuedRefresh> {
    let now = Ts::now();
    let session_id = SessionId::new();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(session_id),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
        ))
        .execute(conn)?;
    let token = insert_refresh(conn, session_id, user_id, now)?;
    Ok(IssuedRefresh { session_id, token })
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// A new refresh token in the same session, for this account.
    Rotated(Box<User>, IssuedRefresh),
    /// The token was already rotated: its whole session has been revoked.
    ReuseDetected,
    /// Unknown, expired, or its session is revoked.
    Invalid,
}

/// A presented refresh token and the state of its session.
#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct PresentedRefresh {
    id: RefreshTokenId,
    session_id: SessionId,
    user_id: UserId,
    expires_at: Ts,
    used_at: Option<Ts>,
    #[diesel(select_expression = sessions::revoked_at)]
    revoked_at: Option<Ts>,
}

/// Rotates a refresh token. Run inside a transaction: the revocation on reuse must commit even
/// though the caller answers 401.
pub fn rotate(conn: &mut DbConn, presented: &str) -> QueryResult<Rotation> {
    let now = Ts::now();
    let row: Option<PresentedRefresh> = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(hash_secret(presented)))
        .select(PresentedRefresh::as_select())
        .first(conn)
        .optional()?;
    let Some(PresentedRefresh {
        id: token_id,
        session_id,
        user_id,
        expires_at,
        used_at,
        revoked_at,
    }) = row
    else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        revoke_session(conn, session_id, "refresh_token_reuse")?;
        return Ok(Rotation::ReuseDetected);
    }
    // The conditional update makes two concurrent rotations of one token race safely: exactly one
    // sees one row changed; the other is treated as reuse.
    let claimed = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(token_id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    if claimed != 1 {
        revoke_session(conn, session_id, "refresh_token_reuse")?;
        return Ok(Rotation::ReuseDetected);
    }
    let user = crate::accounts::find(conn, user_id)?;
    let token = insert_refresh(conn, session_id, user_id, now)?;
    Ok(Rotation::Rotated(Box::new(user), IssuedRefresh { session_id, token }))
}

/// Revokes a session (if not already revoked); its refresh tokens and access tokens stop working.
pub fn revoke_session(conn: &mut DbConn, session_id: SessionId, reason: &str) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((sessions::revoked_at.eq(Ts::now()), sessions::revoked_reason.eq(reason)))
    .execute(conn)
    .map(|_| ())
}

/// Ends the session a refresh token belongs to (logout). Unknown tokens are ignored.
pub fn logout(conn: &mut DbConn, presented: &str) -> QueryResult<()> {
    let session: Option<SessionId> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash_secret(presented)))
        .select(refresh_tokens::session_id)
        .first(conn)
        .optional()?;
    match session {
        Some(id) => revoke_session(conn, id, "logout"),
        None => Ok(()),
    }
}

/// Revokes every session of an account except `keep` (password change).
pub fn revoke_other_sessions(
    conn: &mut DbConn,
    user_id: UserId,
    keep: Option<SessionId>,
    reason: &str,
) -> QueryResult<usize> {
    let mut q = diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep {
        q = q.filter(sessions::id.ne(keep));
    }
    q.set((sessions::revoked_at.eq(Ts::now()), sessions::revoked_reason.eq(reason)))
        .execute(conn)
}
