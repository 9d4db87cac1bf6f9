//! Password rules and hashing: argon2id with OWASP's recommended parameters
//! (19 MiB of memory, 2 iterations, 1 lane). Hashing runs on the blocking pool, never on an async worker.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Deserialize;

use crate::error::{AppError, FieldError};

/// Shortest accepted password, in characters.
pub const MIN_CHARS: usize = 12;
/// Longest accepted password, in bytes: bounds the hashing work a request can cause.
pub const MAX_BYTES: usize = 1024;

/// A password as received: never printed, never logged.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Wraps a password string.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// Checks the length rules for a new password; `field` names it in the error.
    pub fn check_new(&self, field: &str) -> Result<(), FieldError> {
        if self.0.chars().count() < MIN_CHARS {
            Err(FieldError::new(
                field,
                format!("must be at least {MIN_CHARS} characters"),
            ))
        } else if self.0.len() > MAX_BYTES {
            Err(FieldError::new(field, format!("must be at most {MAX_BYTES} bytes")))
        } else {
            Ok(())
        }
    }

    fn bytes(&self) -> &[u8] {
        // An over-long password is never hashed in full: the login path truncates rather than
        // spending unbounded CPU; it can then never match a stored hash (those are all ≤ MAX_BYTES).
        let b = self.0.as_bytes();
        &b[..b.len().min(MAX_BYTES + 1)]
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
    match Params::new(19 * 1024, 2, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        Err(_) => Argon2::default(),
    }
}

/// Hashes a password into a PHC string (salted).
pub fn hash(password: &Password) -> Result<String, AppError> {
    let mut salt_bytes = [0u8; 16];
    rand::fill(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(AppError::internal)?;
    argon2()
        .hash_password(password.bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// A hash of a random password, verified when an email is unknown so that an unknown email costs
/// the same time as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let mut random = [0u8; 24];
    rand::fill(&mut random);
    hash(&Password(hex::encode(random))).ok()
});

/// Verifies `password` against a stored PHC hash, or against the dummy hash when there is none.
/// Returns true only for a real hash that matches.
pub fn verify(password: &Password, stored: Option<&str>) -> bool {
    let (candidate, real) = match stored {
        Some(h) => (h, true),
        None => match DUMMY_HASH.as_deref() {
            Some(h) => (h, false),
            None => return false,
        },
    };
    let Ok(parsed) = PasswordHash::new(candidate) else {
        return false;
    };
    let ok = argon2().verify_password(password.bytes(), &parsed).is_ok();
    ok && real
}

/// Computes the dummy hash ahead of the first login so that the first unknown-email login is not
/// slower than the rest.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify_accepts_only_the_same_password() {
        let pw = Password::new("correct horse battery");
        let h = hash(&pw).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(&pw, Some(&h)));
        assert!(!verify(&Password::new("correct horse battery!"), Some(&h)));
    }

    #[test]
    fn unknown_account_never_verifies() {
        assert!(!verify(&Password::new("anything at all"), None));
    }

    #[test]
    fn length_rules() {
        assert!(Password::new("short").check_new("password").is_err());
        assert!(Password::new("twelve chars").check_new("password").is_ok());
        assert!(Password::new("é".repeat(12)).check_new("password").is_ok());
        assert!(Password::new("x".repeat(1025)).check_new("password").is_err());
        assert!(Password::new("x".repeat(1024)).check_new("password").is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        assert_eq!(format!("{:?}", Password::new("secret secret")), "Password(***)");
    }
}
