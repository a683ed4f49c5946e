//! Random secrets and their stored form. Tokens (session keys, reset and alert links, device
//! cookies) come from the OS CSPRNG; only their SHA-256 is stored.

use sha2::{Digest, Sha256};

/// `bytes` random bytes as lowercase hex (16 bytes: 128 bits; 32 bytes: 256 bits).
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 of a token, as lowercase hex: what the database keeps.
pub fn hash(token: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(token.as_ref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = super::random_hex(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, super::random_hex(32));
        assert_eq!(super::hash("abc"), super::hash(b"abc"));
        assert_eq!(super::hash("abc").len(), 64);
    }
}
