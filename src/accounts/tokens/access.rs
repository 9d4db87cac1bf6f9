//! JWT access tokens: their lifetime, issuer and audience, claims, and the keys that sign and check
//! them.

use super::scopes::Scope;
use crate::accounts::Role;
use crate::db::{SessionId, Ts, UserId};
use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Lifetime of an access token.
pub const ACCESS_TTL: Duration = Duration::minutes(15);

/// `iss` of every access token.
pub const ISSUER: &str = "karada";

/// `aud` of every access token.
pub const AUDIENCE: &str = "karada-api";

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
    pub fn issue(
        &self,
        user_id: UserId,
        role: Role,
        session_id: SessionId,
    ) -> Result<String, jsonwebtoken::errors::Error> {
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
