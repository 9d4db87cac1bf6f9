//! Opaque secrets: random values and the SHA-256 hashes they are stored as.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of an opaque secret: how it is stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `bytes` random bytes, hex-encoded: the body of every opaque secret.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    hex::encode(buf)
}
