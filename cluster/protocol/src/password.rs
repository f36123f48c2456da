//! Passwords as Redis keeps and checks them (acl.c): by their SHA-256, compared in constant
//! time, so that neither the time a check takes nor a password's length tells a guesser
//! anything.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A password's SHA-256.
pub fn hash(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

/// Whether `given` is the password whose hash is `stored`.
pub fn matches(stored: &[u8; 32], given: &[u8]) -> bool {
    same(stored, &hash(given))
}

/// Whether two hashes are equal, in constant time.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_password_itself_matches() {
        let stored = hash(b"s3cret");
        assert!(matches(&stored, b"s3cret"));
        assert!(!matches(&stored, b"s3cret "));
        assert!(!matches(&stored, b""));
    }
}
