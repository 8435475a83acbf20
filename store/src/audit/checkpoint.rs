//! Signed checkpoints: the appliance's Ed25519 signature over (agency, sequence, chain hash, time).
//! A rewritten chain (every hash recomputed) no longer matches a checkpoint.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub agency: String,
    pub seq: u64,
    pub hash: String,
    pub time_ms: u64,
    pub public_key: String,
    pub signature: String,
}

fn message(agency: &str, seq: u64, hash: &str, time_ms: u64) -> Vec<u8> {
    format!("custos-audit-checkpoint/v1|{agency}|{seq}|{hash}|{time_ms}").into_bytes()
}

impl Checkpoint {
    pub fn sign(key: &SigningKey, agency: &str, seq: u64, hash: &str, time_ms: u64) -> Self {
        let sig = key.sign(&message(agency, seq, hash, time_ms));
        Self {
            agency: agency.to_owned(),
            seq,
            hash: hash.to_owned(),
            time_ms,
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    /// Checks the signature under `trusted` (or, lacking one, the key the checkpoint names).
    pub fn signature_ok(&self, trusted: Option<&VerifyingKey>) -> bool {
        let key = match trusted {
            Some(k) => *k,
            None => match parse_public_key(&self.public_key) {
                Some(k) => k,
                None => return false,
            },
        };
        let Some(sig) = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        else {
            return false;
        };
        key.verify(
            &message(&self.agency, self.seq, &self.hash, self.time_ms),
            &Signature::from_bytes(&sig),
        )
        .is_ok()
    }
}

pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_every_field() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let cp = Checkpoint::sign(&key, "a1", 10, "ab", 5);
        assert!(cp.signature_ok(None));
        assert!(cp.signature_ok(Some(&key.verifying_key())));
        let mut bad = cp.clone();
        bad.hash = "ac".into();
        assert!(!bad.signature_ok(None));
        let other = SigningKey::from_bytes(&[4; 32]);
        assert!(!cp.signature_ok(Some(&other.verifying_key())));
    }
}
