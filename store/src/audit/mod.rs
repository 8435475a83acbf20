//! The tamper-evident audit log: append-only entries, each hashed with the previous entry's hash
//! (SHA-256), with periodic checkpoints signed by the appliance's Ed25519 key.

pub mod chain;
pub mod checkpoint;
pub mod verify;

use serde::{Deserialize, Serialize};

pub use checkpoint::Checkpoint;
pub use verify::{Problem, VerifyReport, verify_chain};

/// What a caller asks to record; the store adds time, agency, sequence and hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub principal: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub case_number: Option<String>,
    /// JSON text; sealed at rest because it may name plates.
    pub parameters: String,
    pub result_count: u64,
    pub outcome: String,
}

/// The hashed part of an entry, in plain text: what `audit verify` and exports check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditBody {
    pub seq: u64,
    pub time_ms: u64,
    pub agency: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub case_number: Option<String>,
    pub parameters: String,
    pub result_count: u64,
    pub outcome: String,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
}

/// One entry as exported: the body and its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(flatten)]
    pub body: AuditBody,
    pub hash: String,
}

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditBody {
    /// SHA-256 over the body's canonical JSON (fields in declaration order).
    pub fn hash(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&json))
    }
}

impl AuditRecord {
    pub fn self_consistent(&self) -> bool {
        self.body.hash() == self.hash
    }
}
