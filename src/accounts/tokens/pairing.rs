//! Kiosk and app pairing codes: short, single-use, ten-minute codes a resident creates and a kiosk or
//! registered app claims for an app token.

use super::app_tokens::{AppToken, create_app_token};
use super::scopes::{Modality, Scope, format_scopes, parse_scopes};
use super::secrets::hash_secret;
use crate::db::schema::pairing_codes;
use crate::db::{AppId, DbConn, PairingCodeId, Ts, UserId};
use chrono::Duration;
use diesel::prelude::*;

/// Lifetime of a kiosk pairing code.
pub const PAIRING_TTL: Duration = Duration::minutes(10);

/// Lifetime of the app token a pairing code is exchanged for at a kiosk.
pub const PAIRED_TOKEN_TTL_DAYS: i64 = 30;

/// Lifetime of the app token a registered app's server claims.
pub const APP_CLAIM_TTL_DAYS: i64 = 90;

/// Unambiguous alphabet for pairing codes (Crockford base32: no I, L, O, U).
pub(super) const PAIRING_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

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
/// `app_id` limits it to one registered app; `scopes` limits what the token may hold (none: what
/// the claiming app is registered for).
pub fn create_pairing_code(
    conn: &mut DbConn,
    user_id: UserId,
    app_id: Option<AppId>,
    scopes: Option<&[Scope]>,
) -> QueryResult<(String, Ts)> {
    let now = Ts::now();
    let code = random_code();
    let expires_at = now.plus(PAIRING_TTL);
    diesel::insert_into(pairing_codes::table)
        .values((
            pairing_codes::id.eq(PairingCodeId::new()),
            pairing_codes::user_id.eq(user_id),
            pairing_codes::code_hash.eq(hash_secret(&code)),
            pairing_codes::created_at.eq(now),
            pairing_codes::expires_at.eq(expires_at),
            pairing_codes::app_id.eq(app_id),
            pairing_codes::scopes.eq(scopes.map(format_scopes)),
        ))
        .execute(conn)?;
    Ok((code, expires_at))
}

/// Who claims a pairing code.
#[derive(Debug, Clone, Copy)]
pub enum Claimant<'a> {
    /// Nobody the platform knows (a kiosk without credentials, or the resident themselves): the
    /// token is `self_reported` and may only write measurements.
    Anonymous,
    /// A registered app or kiosk that proved its credentials: the token has its modality and the
    /// scopes both it and the code allow.
    App(&'a crate::accounts::apps::RegisteredApp),
}

/// What claiming a pairing code led to.
#[derive(Debug)]
pub enum Claimed {
    /// A new app token and its secret (shown once).
    Token(AppToken, String),
    /// Unknown, expired or spent, or meant for another app.
    NotFound,
    /// Nothing the code allows may be granted to this claimant (the code is left unspent).
    NoScope,
}

/// Exchanges a live, unclaimed pairing code for an app token named `name`. Run inside a
/// transaction.
pub fn claim_pairing_code(conn: &mut DbConn, code: &str, claimant: Claimant<'_>, name: &str) -> QueryResult<Claimed> {
    let now = Ts::now();
    let hash = hash_secret(&normalize_pairing_code(code));
    let found: Option<(PairingCodeId, UserId, Option<AppId>, Option<String>)> = pairing_codes::table
        .filter(pairing_codes::code_hash.eq(&hash))
        .filter(pairing_codes::claimed_at.is_null())
        .filter(pairing_codes::expires_at.gt(now))
        .select((
            pairing_codes::id,
            pairing_codes::user_id,
            pairing_codes::app_id,
            pairing_codes::scopes,
        ))
        .first(conn)
        .optional()?;
    let Some((code_id, user_id, for_app, code_scopes)) = found else {
        return Ok(Claimed::NotFound);
    };
    // A code made for one app is not there for anyone else.
    let (allowed, modality, ttl, app_id) = match claimant {
        Claimant::App(app) if for_app.is_none_or(|a| a == app.id) => {
            let ttl = match app.kind() {
                crate::accounts::apps::AppKind::App => APP_CLAIM_TTL_DAYS,
                crate::accounts::apps::AppKind::Kiosk => PAIRED_TOKEN_TTL_DAYS,
            };
            (app.scopes(), app.modality(), ttl, Some(app.id))
        }
        Claimant::Anonymous if for_app.is_none() => (
            vec![Scope::MeasurementsWrite],
            Modality::SelfReported,
            PAIRED_TOKEN_TTL_DAYS,
            None,
        ),
        _ => return Ok(Claimed::NotFound),
    };
    let granted: Vec<Scope> = match code_scopes.as_deref() {
        None => allowed,
        Some(s) => {
            let by_code = parse_scopes(s);
            allowed.into_iter().filter(|s| by_code.contains(s)).collect()
        }
    };
    if granted.is_empty() {
        return Ok(Claimed::NoScope);
    }
    // Conditional update: of two concurrent claims, only one changes the row.
    let claimed = diesel::update(
        pairing_codes::table
            .filter(pairing_codes::id.eq(code_id))
            .filter(pairing_codes::claimed_at.is_null()),
    )
    .set(pairing_codes::claimed_at.eq(now))
    .execute(conn)?;
    if claimed != 1 {
        return Ok(Claimed::NotFound);
    }
    let (token, secret) = create_app_token(conn, user_id, name, &granted, modality, ttl, app_id)?;
    diesel::update(pairing_codes::table.find(code_id))
        .set(pairing_codes::app_token_id.eq(token.id))
        .execute(conn)?;
    Ok(Claimed::Token(token, secret))
}
