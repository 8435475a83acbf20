//! The blind index: a keyed hash (HMAC-SHA256, truncated to 128 bits) of the normalised plate, so
//! exact lookup needs no decryption and the file alone reveals nothing about plate text.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type Token = [u8; 16];

#[derive(Clone)]
pub struct BlindIndexKey(Hmac<Sha256>);

impl BlindIndexKey {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(<Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key size"))
    }

    /// The token of an already normalised plate.
    pub fn token(&self, normalised_plate: &str) -> Token {
        let mut mac = self.0.clone();
        mac.update(normalised_plate.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut t = [0u8; 16];
        t.copy_from_slice(&full[..16]);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_plate_same_token_and_key_matters() {
        let k = BlindIndexKey::new(&[1; 32]);
        assert_eq!(k.token("AB12CD"), k.token("AB12CD"));
        assert_ne!(k.token("AB12CD"), k.token("AB12CE"));
        assert_ne!(
            k.token("AB12CD"),
            BlindIndexKey::new(&[2; 32]).token("AB12CD")
        );
    }
}
