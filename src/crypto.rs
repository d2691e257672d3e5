//! Small cryptographic helpers: random tokens, digests, signatures.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes, URL-safe: for session ids, emailed links, CSRF cookies.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps instead of a token, so a leaked table opens nothing.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sign(secret: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_signatures_depend_on_key_and_message() {
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
        assert_ne!(sign(b"k1", "m"), sign(b"k2", "m"));
        assert_ne!(sign(b"k1", "m"), sign(b"k1", "n"));
        assert!(equal(&sign(b"k", "m"), &sign(b"k", "m")));
        assert!(!equal("abc", "abd"));
    }
}
