//! Appending to and reading the chain inside the agency database. At rest the parameters are
//! sealed (they may name plates); the hash covers the plain text, so an export verifies without
//! keys and the live store verifies after unsealing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{AuditBody, AuditEvent, AuditRecord, Checkpoint, GENESIS_HASH};
use crate::crypto::{NonceSource, SealKey};
use crate::schema::{AUDIT, CHECKPOINTS, META, META_AUDIT_FLOOR};

/// Sign a checkpoint after every this many entries.
pub const CHECKPOINT_EVERY: u64 = 256;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAudit {
    pub seq: u64,
    pub time_ms: u64,
    pub agency: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub case_number: Option<String>,
    pub parameters_sealed: String,
    pub result_count: u64,
    pub outcome: String,
    pub prev_hash: String,
    pub hash: String,
}

pub(crate) fn params_aad(agency: &str, seq: u64) -> Vec<u8> {
    format!("custos-audit-params/v1|{agency}|{seq}").into_bytes()
}

/// (first retained sequence, hash before it) once retention has dropped old entries.
pub(crate) fn floor(txn: &WriteTransaction) -> Result<Option<(u64, String)>, redb::Error> {
    let meta = txn.open_table(META)?;
    Ok(meta
        .get(META_AUDIT_FLOOR)?
        .and_then(|g| serde_json::from_slice(g.value()).ok()))
}

pub(crate) struct Appender<'a> {
    pub agency: &'a str,
    pub key: &'a SealKey,
    pub nonces: &'a NonceSource,
    pub signer: &'a ed25519_dalek::SigningKey,
}

impl Appender<'_> {
    /// Appends one entry in `txn`, signing a checkpoint every [`CHECKPOINT_EVERY`] entries.
    pub fn append(
        &self,
        txn: &WriteTransaction,
        time_ms: u64,
        ev: &AuditEvent,
    ) -> Result<u64, redb::Error> {
        let mut table = txn.open_table(AUDIT)?;
        let (seq, prev_hash) = match table.last()? {
            Some((k, v)) => {
                let prev: StoredAudit = serde_json::from_slice(v.value()).map_err(|e| {
                    redb::Error::Corrupted(format!("audit entry {}: {e}", k.value()))
                })?;
                (prev.seq + 1, prev.hash)
            }
            None => floor(txn)?.unwrap_or((0, GENESIS_HASH.to_owned())),
        };
        let body = AuditBody {
            seq,
            time_ms,
            agency: self.agency.to_owned(),
            principal: ev.principal.clone(),
            action: ev.action.clone(),
            target: ev.target.clone(),
            reason: ev.reason.clone(),
            case_number: ev.case_number.clone(),
            parameters: ev.parameters.clone(),
            result_count: ev.result_count,
            outcome: ev.outcome.clone(),
            prev_hash,
        };
        let hash = body.hash();
        let sealed = self.key.seal(
            self.nonces,
            body.parameters.as_bytes(),
            &params_aad(self.agency, seq),
        );
        let stored = StoredAudit {
            seq,
            time_ms,
            agency: body.agency,
            principal: body.principal,
            action: body.action,
            target: body.target,
            reason: body.reason,
            case_number: body.case_number,
            parameters_sealed: B64.encode(sealed),
            result_count: body.result_count,
            outcome: body.outcome,
            prev_hash: body.prev_hash,
            hash: hash.clone(),
        };
        let json =
            serde_json::to_vec(&stored).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        table.insert(seq, json.as_slice())?;
        if (seq + 1) % CHECKPOINT_EVERY == 0 {
            drop(table);
            self.checkpoint(txn, time_ms, seq, &hash)?;
        }
        Ok(seq)
    }

    pub fn checkpoint(
        &self,
        txn: &WriteTransaction,
        time_ms: u64,
        seq: u64,
        hash: &str,
    ) -> Result<(), redb::Error> {
        let cp = Checkpoint::sign(self.signer, self.agency, seq, hash, time_ms);
        let json = serde_json::to_vec(&cp).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        txn.open_table(CHECKPOINTS)?.insert(seq, json.as_slice())?;
        Ok(())
    }
}

/// Turns a stored entry into its plain form; `None` if the sealed parameters do not open (then
/// verification reports the entry as altered).
pub(crate) fn unseal(stored: StoredAudit, key: &SealKey) -> (AuditRecord, bool) {
    let params = B64
        .decode(&stored.parameters_sealed)
        .ok()
        .and_then(|b| key.open(&b, &params_aad(&stored.agency, stored.seq)))
        .and_then(|p| String::from_utf8(p).ok());
    let ok = params.is_some();
    (
        AuditRecord {
            body: AuditBody {
                seq: stored.seq,
                time_ms: stored.time_ms,
                agency: stored.agency,
                principal: stored.principal,
                action: stored.action,
                target: stored.target,
                reason: stored.reason,
                case_number: stored.case_number,
                parameters: params.unwrap_or_else(|| "<does not decrypt>".into()),
                result_count: stored.result_count,
                outcome: stored.outcome,
                prev_hash: stored.prev_hash,
            },
            hash: stored.hash,
        },
        ok,
    )
}
