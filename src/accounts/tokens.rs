//! Credentials: JWT access tokens ([`access`]), login sessions with rotating refresh tokens
//! ([`sessions`]), app tokens with [`scopes`] and a modality ([`app_tokens`]), and single-use kiosk
//! [`pairing`] codes. Everything is re-exported here, so callers name `tokens::…`.
//!
//! Opaque secrets (refresh tokens, app tokens, pairing codes) are stored only as SHA-256 hashes
//! ([`secrets`]): they are long random values (or short-lived, single-use codes), so a fast hash
//! suffices and a database leak reveals no usable credential.

mod access;
mod app_tokens;
mod pairing;
mod scopes;
mod secrets;
mod sessions;

pub use access::{ACCESS_TTL, AUDIENCE, Claims, ISSUER, JwtKeys};
pub use app_tokens::{
    AppToken, AppTokenAuth, authenticate_app_token, create_app_token, is_app_token, list_app_tokens, revoke_app_token,
};
pub use pairing::{
    APP_CLAIM_TTL_DAYS, Claimant, Claimed, PAIRED_TOKEN_TTL_DAYS, PAIRING_TTL, claim_pairing_code, create_pairing_code,
    normalize_pairing_code, random_code,
};
pub use scopes::{Modality, Scope, app_scopes, format_scopes, parse_scopes};
pub use secrets::{hash_secret, random_hex};
pub use sessions::{
    IssuedRefresh, REFRESH_TTL, Rotation, logout, revoke_other_sessions, revoke_session, rotate, start_session,
};

#[cfg(test)]
mod tests {
    use super::pairing::PAIRING_ALPHABET;
    use super::*;
    use crate::accounts::Role;

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
        let t = keys
            .issue(crate::db::UserId::new(), Role::Resident, crate::db::SessionId::new())
            .unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!(c.iss, ISSUER);
        assert_eq!(c.exp - c.iat, ACCESS_TTL.num_seconds());
        let other = JwtKeys::new(b"another secret another secret!!!");
        assert!(other.verify(&t).is_none());
    }
}
