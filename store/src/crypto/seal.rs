//! AEAD sealing (XChaCha20-Poly1305). Nonces: a random per-process prefix plus a counter, so they
//! never repeat under one key without a syscall per record.

use std::sync::atomic::{AtomicU64, Ordering};

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub const NONCE_LEN: usize = 24;

pub struct SealKey(XChaCha20Poly1305);

pub struct NonceSource {
    prefix: [u8; 16],
    counter: AtomicU64,
}

impl NonceSource {
    pub fn new() -> Result<Self, getrandom::Error> {
        Ok(Self {
            prefix: super::random_bytes()?,
            counter: AtomicU64::new(0),
        })
    }

    fn next(&self) -> [u8; NONCE_LEN] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..16].copy_from_slice(&self.prefix);
        nonce[16..].copy_from_slice(&n.to_le_bytes());
        nonce
    }
}

impl SealKey {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(key.into()))
    }

    /// Returns nonce ‖ ciphertext ‖ tag. `aad` binds the ciphertext to where it belongs (agency,
    /// record id), so moving it elsewhere makes it fail to open.
    pub fn seal(&self, nonces: &NonceSource, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.seal_with(nonces, aad, plaintext.len(), |out| {
            out.extend_from_slice(plaintext)
        })
    }

    /// [`seal`](Self::seal) of `value`'s postcard form, serialised straight into the sealed
    /// buffer (one allocation per record on the ingest path instead of two).
    pub fn seal_serialized<T: serde::Serialize>(
        &self,
        nonces: &NonceSource,
        value: &T,
        aad: &[u8],
    ) -> Vec<u8> {
        self.seal_with(nonces, aad, 128, |out| {
            // Serialising plain structs into a Vec cannot fail.
            let taken = std::mem::take(out);
            *out = postcard::to_extend(value, taken).unwrap_or_default();
        })
    }

    /// Nonce, then whatever `write` appends, encrypted in place, then the tag.
    fn seal_with(
        &self,
        nonces: &NonceSource,
        aad: &[u8],
        size_hint: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        let nonce = nonces.next();
        let mut out = Vec::with_capacity(NONCE_LEN + size_hint + 16);
        out.extend_from_slice(&nonce);
        write(&mut out);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        match out.get_mut(NONCE_LEN..).map(|plain| {
            self.0
                .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, plain)
        }) {
            Some(Ok(tag)) => out.extend_from_slice(&tag),
            _ => out.truncate(NONCE_LEN),
        }
        out
    }

    /// Opens what [`seal`](Self::seal) produced; `None` if the key, data or `aad` is wrong.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_wrong_aad_or_key() {
        let nonces = NonceSource::new().unwrap();
        let k = SealKey::new(&[7; 32]);
        let sealed = k.seal(&nonces, b"AB12CD", b"read 1");
        assert_eq!(k.open(&sealed, b"read 1").unwrap(), b"AB12CD");
        assert!(k.open(&sealed, b"read 2").is_none());
        assert!(SealKey::new(&[8; 32]).open(&sealed, b"read 1").is_none());
        assert!(!sealed.windows(6).any(|w| w == b"AB12CD"));
        let value = ("AB12CD", 7u32);
        let sealed = k.seal_serialized(&nonces, &value, b"read 3");
        let plain = k.open(&sealed, b"read 3").unwrap();
        assert_eq!(plain, postcard::to_allocvec(&value).unwrap());
    }

    #[test]
    fn nonces_never_repeat() {
        let nonces = NonceSource::new().unwrap();
        let a = nonces.next();
        let b = nonces.next();
        assert_ne!(a, b);
    }
}
