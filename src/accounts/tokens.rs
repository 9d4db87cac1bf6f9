//! Credentials: JWT access tokens, login sessions with rotating refresh tokens, app tokens with
//! scopes, and single-use kiosk pairing codes.
//!
//! Opaque secrets (refresh tokens, app tokens, pairing codes) are stored only as SHA-256 hashes:
//! they are long random values (or short-lived, single-use codes), so a fast hash suffices and a
//! database leak reveals no usable credential.

use chrono::Duration;
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Role, User};
use crate::db::schema::{app_tokens, pairing_codes, refresh_tokens, sessions, users};
use crate::db::{DbConn, Id, Ts};

/// Lifetime of an access token.
pub const ACCESS_TTL: Duration = Duration::minutes(15);
/// Lifetime of a refresh token (each rotation issues a new one with a fresh lifetime).
pub const REFRESH_TTL: Duration = Duration::days(30);
/// Lifetime of a kiosk pairing code.
pub const PAIRING_TTL: Duration = Duration::minutes(10);
/// Lifetime of the app token a pairing code is exchanged for.
pub const PAIRED_TOKEN_TTL_DAYS: i64 = 30;
/// `iss` of every access token.
pub const ISSUER: &str = "karada";
/// `aud` of every access token.
pub const AUDIENCE: &str = "karada-api";

const REFRESH_PREFIX: &str = "krt_";
const APP_TOKEN_PREFIX: &str = "kat_";
/// Unambiguous alphabet for pairing codes (Crockford base32: no I, L, O, U).
const PAIRING_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What a credential allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// Manage the account, its tokens and its consents. Only a login session has it.
    #[serde(rename = "account")]
    Account,
    /// Read measurements.
    #[serde(rename = "measurements:read")]
    MeasurementsRead,
    /// Write measurements.
    #[serde(rename = "measurements:write")]
    MeasurementsWrite,
    /// Read points balances and ledgers.
    #[serde(rename = "points:read")]
    PointsRead,
}

impl Scope {
    /// Every scope a login session carries.
    pub const SESSION: [Scope; 4] = [
        Scope::Account,
        Scope::MeasurementsRead,
        Scope::MeasurementsWrite,
        Scope::PointsRead,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::MeasurementsRead => "measurements:read",
            Scope::MeasurementsWrite => "measurements:write",
            Scope::PointsRead => "points:read",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Scope::SESSION.into_iter().find(|sc| sc.as_str() == s)
    }

    /// Whether an app token may be granted this scope.
    pub fn grantable_to_apps(self) -> bool {
        self != Scope::Account
    }
}

/// Parses a space-separated stored scope list, ignoring names this version does not know.
pub fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// Formats scopes for storage.
pub fn format_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// How the data sent with a credential was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Measured by a device or kiosk.
    Sensed,
    /// Typed in by a person.
    SelfReported,
}

impl Modality {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Sensed => "sensed",
            Modality::SelfReported => "self_reported",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sensed" => Some(Modality::Sensed),
            "self_reported" => Some(Modality::SelfReported),
            _ => None,
        }
    }
}

/// Hex SHA-256 of an opaque secret: how it is stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    hex::encode(buf)
}

/// Whether a bearer string is an app token (rather than a JWT).
pub fn is_app_token(bearer: &str) -> bool {
    bearer.starts_with(APP_TOKEN_PREFIX)
}

// ---- access tokens (JWT) ----

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: always [`ISSUER`].
    pub iss: String,
    /// Audience: always [`AUDIENCE`].
    pub aud: String,
    /// The account id.
    pub sub: uuid::Uuid,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: uuid::Uuid,
    /// Account role.
    pub role: Role,
    /// Scopes granted.
    pub scopes: Vec<Scope>,
    /// The login session this token belongs to; revoking the session ends the token at once.
    pub sid: uuid::Uuid,
}

/// Signing and verification keys for access tokens (HS256).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(***)")
    }
}

impl JwtKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm-confusion tokens fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs claims.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Issues an access token for a session.
    pub fn issue(&self, user_id: Id, role: Role, session_id: Id) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Ts::now().0.timestamp();
        self.sign(&Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.0,
            exp: now + ACCESS_TTL.num_seconds(),
            iat: now,
            jti: uuid::Uuid::new_v4(),
            role,
            scopes: Scope::SESSION.to_vec(),
            sid: session_id.0,
        })
    }

    /// Verifies signature, algorithm, issuer, audience and expiry; `None` for any failure.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

// ---- sessions and refresh tokens ----

/// A refresh token as issued: the secret is shown to the client once.
#[derive(Debug)]
pub struct IssuedRefresh {
    /// The login session (refresh-token family).
    pub session_id: Id,
    /// The opaque token.
    pub token: String,
}

fn insert_refresh(conn: &mut DbConn, session_id: Id, user_id: Id, now: Ts) -> QueryResult<String> {
    let token = format!("{REFRESH_PREFIX}{}", random_hex(32));
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Id::new()),
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
pub fn start_session(conn: &mut DbConn, user_id: Id) -> QueryResult<IssuedRefresh> {
    let now = Ts::now();
    let session_id = Id::new();
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
    id: Id,
    session_id: Id,
    user_id: Id,
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
    let user = super::find(conn, user_id)?;
    let token = insert_refresh(conn, session_id, user_id, now)?;
    Ok(Rotation::Rotated(Box::new(user), IssuedRefresh { session_id, token }))
}

/// Revokes a session (if not already revoked); its refresh tokens and access tokens stop working.
pub fn revoke_session(conn: &mut DbConn, session_id: Id, reason: &str) -> QueryResult<()> {
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
    let session: Option<Id> = refresh_tokens::table
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
pub fn revoke_other_sessions(conn: &mut DbConn, user_id: Id, keep: Option<Id>, reason: &str) -> QueryResult<usize> {
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

/// The account behind a valid access token, if its session is still live.
pub fn session_user(conn: &mut DbConn, user_id: Id, session_id: Id) -> QueryResult<Option<User>> {
    users::table
        .inner_join(sessions::table)
        .filter(users::id.eq(user_id))
        .filter(sessions::id.eq(session_id))
        .filter(sessions::revoked_at.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()
}

// ---- app tokens ----

/// An app token row (never includes the secret).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = app_tokens)]
pub struct AppToken {
    /// Token id.
    pub id: Id,
    /// Owner.
    pub user_id: Id,
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
}

/// What an app token authenticates as.
#[derive(Debug, Clone)]
pub struct AppTokenAuth {
    /// The token row.
    pub token: AppToken,
    /// The owner.
    pub user: User,
}

/// Creates an app token; returns the row and the secret (shown once).
pub fn create_app_token(
    conn: &mut DbConn,
    user_id: Id,
    name: &str,
    scopes: &[Scope],
    modality: Modality,
    ttl_days: i64,
) -> QueryResult<(AppToken, String)> {
    let now = Ts::now();
    let id = Id::new();
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
        ))
        .execute(conn)?;
    let row = app_tokens::table.find(id).select(AppToken::as_select()).first(conn)?;
    Ok((row, secret))
}

/// A page of the resident's live (unrevoked, unexpired) app tokens, oldest first, after `after`.
pub fn list_app_tokens(conn: &mut DbConn, user_id: Id, after: Option<Id>, limit: i64) -> QueryResult<Vec<AppToken>> {
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
pub fn revoke_app_token(conn: &mut DbConn, user_id: Id, id: Id) -> QueryResult<bool> {
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

// ---- kiosk pairing ----

/// Normalises a typed pairing code: upper-case, without spaces or dashes.
pub fn normalize_pairing_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Eight symbols from an alphabet without look-alikes (I, L, O, U): pairing and event codes.
pub fn random_code() -> String {
    let mut buf = [0u8; 8];
    rand::fill(&mut buf);
    // 32 divides 256, so taking the low five bits keeps every symbol equally likely.
    buf.iter()
        .map(|b| PAIRING_ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

/// Creates a pairing code for the resident; returns the code (shown once) and its expiry.
pub fn create_pairing_code(conn: &mut DbConn, user_id: Id) -> QueryResult<(String, Ts)> {
    let now = Ts::now();
    let code = random_code();
    let expires_at = now.plus(PAIRING_TTL);
    diesel::insert_into(pairing_codes::table)
        .values((
            pairing_codes::id.eq(Id::new()),
            pairing_codes::user_id.eq(user_id),
            pairing_codes::code_hash.eq(hash_secret(&code)),
            pairing_codes::created_at.eq(now),
            pairing_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok((code, expires_at))
}

/// Exchanges a live, unclaimed pairing code for a `measurements:write` app token with `sensed`
/// modality. `None` if the code is unknown, expired or already used. Run inside a transaction.
pub fn claim_pairing_code(conn: &mut DbConn, code: &str, device_name: &str) -> QueryResult<Option<(AppToken, String)>> {
    let now = Ts::now();
    let hash = hash_secret(&normalize_pairing_code(code));
    let found: Option<(Id, Id)> = pairing_codes::table
        .filter(pairing_codes::code_hash.eq(&hash))
        .filter(pairing_codes::claimed_at.is_null())
        .filter(pairing_codes::expires_at.gt(now))
        .select((pairing_codes::id, pairing_codes::user_id))
        .first(conn)
        .optional()?;
    let Some((code_id, user_id)) = found else {
        return Ok(None);
    };
    // Conditional update: of two concurrent claims, only one changes the row.
    let claimed = diesel::update(
        pairing_codes::table
            .filter(pairing_codes::id.eq(code_id))
            .filter(pairing_codes::claimed_at.is_null()),
    )
    .set(pairing_codes::claimed_at.eq(now))
    .execute(conn)?;
    if claimed != 1 {
        return Ok(None);
    }
    let (token, secret) = create_app_token(
        conn,
        user_id,
        device_name,
        &[Scope::MeasurementsWrite],
        Modality::Sensed,
        PAIRED_TOKEN_TTL_DAYS,
    )?;
    diesel::update(pairing_codes::table.find(code_id))
        .set(pairing_codes::app_token_id.eq(token.id))
        .execute(conn)?;
    Ok(Some((token, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_codes_use_the_unambiguous_alphabet() {
        for _ in 0..100 {
            let c = random_code();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| PAIRING_ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn typed_pairing_codes_are_normalised() {
        assert_eq!(normalize_pairing_code(" ab12-cd34 "), "AB12CD34");
    }

    #[test]
    fn scopes_round_trip_through_storage() {
        let s = [Scope::MeasurementsRead, Scope::PointsRead];
        assert_eq!(parse_scopes(&format_scopes(&s)), s.to_vec());
        assert!(!Scope::Account.grantable_to_apps());
    }

    #[test]
    fn jwt_round_trip_and_wrong_key_rejected() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = keys.issue(Id::new(), Role::Resident, Id::new()).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!(c.iss, ISSUER);
        assert_eq!(c.exp - c.iat, ACCESS_TTL.num_seconds());
        let other = JwtKeys::new(b"another secret another secret!!!");
        assert!(other.verify(&t).is_none());
    }
}
