//! Chain verification that names the exact entry: altered, inserted, reordered or removed.

use std::collections::{HashMap, HashSet};
use std::fmt;

use ed25519_dalek::VerifyingKey;

use super::{AuditRecord, Checkpoint, GENESIS_HASH};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The entry's content no longer matches its hash.
    Altered { seq: u64, position: usize },
    /// An entry that does not belong to the chain (nothing links to it, or it links to nothing).
    Inserted { position: usize, claimed_seq: u64 },
    /// An entry appears before entries that precede it in the chain.
    Reordered {
        seq: u64,
        position: usize,
        before: u64,
    },
    /// Entries missing from the chain.
    Removed { first: u64, last: u64 },
    /// The entry's link to its predecessor is wrong (the predecessor was rewritten).
    ChainBroken { seq: u64 },
    /// A signed checkpoint is invalid or does not match the chain.
    Checkpoint { seq: u64, reason: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Altered { seq, position } => write!(
                f,
                "entry #{seq} (line {}) was altered: its content does not match its hash",
                position + 1
            ),
            Problem::Inserted {
                position,
                claimed_seq,
            } => write!(
                f,
                "an entry was inserted at line {} (claims #{claimed_seq}); it is not linked into \
                 the chain",
                position + 1
            ),
            Problem::Reordered {
                seq,
                position,
                before,
            } => write!(
                f,
                "entries were reordered: #{seq} (line {}) comes before #{before}",
                position + 1
            ),
            Problem::Removed { first, last } if first == last => {
                write!(f, "entry #{first} was removed")
            }
            Problem::Removed { first, last } => write!(f, "entries #{first}-#{last} were removed"),
            Problem::ChainBroken { seq } => write!(
                f,
                "entry #{seq} does not link to its predecessor: entry #{} was rewritten",
                seq.saturating_sub(1)
            ),
            Problem::Checkpoint { seq, reason } => write!(f, "checkpoint at #{seq}: {reason}"),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub entries: usize,
    pub checkpoints: usize,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok() {
            write!(
                f,
                "OK: {} entries, {} signed checkpoints verified",
                self.entries, self.checkpoints
            )
        } else {
            writeln!(f, "TAMPERED: {} problem(s)", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  {p}")?;
            }
            Ok(())
        }
    }
}

/// Verifies entries in stored order. `floor` is (first retained sequence, the hash before it)
/// when old entries were purged by retention; `trusted` is the appliance's public key.
pub fn verify_chain(
    records: &[AuditRecord],
    checkpoints: &[Checkpoint],
    floor: Option<(u64, String)>,
    trusted: Option<&VerifyingKey>,
) -> VerifyReport {
    let mut problems = Vec::new();
    let (mut expected, mut prev) = floor.unwrap_or((0, GENESIS_HASH.to_owned()));
    let self_ok: Vec<bool> = records.iter().map(AuditRecord::self_consistent).collect();
    let mut positions: HashMap<u64, Vec<usize>> = HashMap::new();
    for (p, r) in records.iter().enumerate() {
        positions.entry(r.body.seq).or_default().push(p);
    }
    let referenced: HashSet<&str> = records.iter().map(|r| r.body.prev_hash.as_str()).collect();
    let last_pos = records.len().saturating_sub(1);
    // Hash of each consumed sequence, to move `prev` past entries consumed out of order.
    let mut consumed: HashMap<u64, String> = HashMap::new();

    for (p, r) in records.iter().enumerate() {
        let seq = r.body.seq;
        if !self_ok[p] {
            problems.push(Problem::Altered { seq, position: p });
            consumed.insert(seq, r.hash.clone());
            if seq == expected {
                expected += 1;
                prev = r.hash.clone();
            }
        } else {
            let dup = positions.get(&seq).is_some_and(|v| v.len() > 1);
            let linked_from_next = referenced.contains(r.hash.as_str()) || p == last_pos;
            if (dup && !linked_from_next) || consumed.contains_key(&seq) {
                problems.push(Problem::Inserted {
                    position: p,
                    claimed_seq: seq,
                });
                continue;
            }
            if seq == expected {
                if r.body.prev_hash != prev {
                    problems.push(Problem::ChainBroken { seq });
                }
                consumed.insert(seq, r.hash.clone());
                expected += 1;
                prev = r.hash.clone();
            } else if seq > expected {
                let later = |s: u64| positions.get(&s).is_some_and(|v| v.iter().any(|&q| q > p));
                if (expected..seq).all(later) {
                    problems.push(Problem::Reordered {
                        seq,
                        position: p,
                        before: expected,
                    });
                    consumed.insert(seq, r.hash.clone());
                    continue;
                }
                problems.push(Problem::Removed {
                    first: expected,
                    last: seq - 1,
                });
                consumed.insert(seq, r.hash.clone());
                expected = seq + 1;
                prev = r.hash.clone();
            } else {
                // An earlier sequence after later ones: already reported as reordered.
                consumed.insert(seq, r.hash.clone());
            }
        }
        while let Some(h) = consumed.get(&expected) {
            prev = h.clone();
            expected += 1;
        }
    }

    let by_seq: HashMap<u64, &AuditRecord> = records.iter().map(|r| (r.body.seq, r)).collect();
    let last_seq = records.iter().map(|r| r.body.seq).max();
    let mut checked = 0;
    for cp in checkpoints {
        if !cp.signature_ok(trusted) {
            problems.push(Problem::Checkpoint {
                seq: cp.seq,
                reason: "signature does not verify with the appliance key".into(),
            });
            continue;
        }
        match by_seq.get(&cp.seq) {
            Some(r) if r.hash == cp.hash => checked += 1,
            Some(_) => problems.push(Problem::Checkpoint {
                seq: cp.seq,
                reason: "the chain hash differs from the signed one: entries up to here were \
                         rewritten"
                    .into(),
            }),
            None if last_seq.is_none_or(|l| cp.seq > l) => problems.push(Problem::Removed {
                first: last_seq.map_or(0, |l| l + 1),
                last: cp.seq,
            }),
            None => {} // the entry is missing: already reported above
        }
    }
    problems.dedup();
    VerifyReport {
        entries: records.len(),
        checkpoints: checked,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::super::AuditBody;
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_owned();
        (0..n)
            .map(|seq| {
                let body = AuditBody {
                    seq,
                    time_ms: 1000 + seq,
                    agency: "a".into(),
                    principal: "p".into(),
                    action: "search".into(),
                    target: "reads".into(),
                    reason: "r".into(),
                    case_number: None,
                    parameters: "{}".into(),
                    result_count: seq,
                    outcome: "ok".into(),
                    prev_hash: prev.clone(),
                };
                let hash = body.hash();
                prev = hash.clone();
                AuditRecord { body, hash }
            })
            .collect()
    }

    fn problems(r: &[AuditRecord]) -> Vec<Problem> {
        verify_chain(r, &[], None, None).problems
    }

    #[test]
    fn intact_chain_verifies() {
        assert!(problems(&chain(10)).is_empty());
    }

    #[test]
    fn names_altered_entry() {
        let mut c = chain(10);
        c[4].body.principal = "mallory".into();
        assert_eq!(
            problems(&c),
            vec![Problem::Altered {
                seq: 4,
                position: 4
            }]
        );
    }

    #[test]
    fn names_removed_entry() {
        let mut c = chain(10);
        c.remove(6);
        assert_eq!(problems(&c), vec![Problem::Removed { first: 6, last: 6 }]);
    }

    #[test]
    fn names_reordered_entries() {
        let mut c = chain(10);
        c.swap(3, 4);
        assert_eq!(
            problems(&c),
            vec![Problem::Reordered {
                seq: 4,
                position: 3,
                before: 3
            }]
        );
    }

    #[test]
    fn names_inserted_entry() {
        let mut c = chain(10);
        // A forged, self-consistent entry claiming #5 and linking to #4.
        let mut body = c[5].body.clone();
        body.principal = "forger".into();
        let forged = AuditRecord {
            hash: body.hash(),
            body,
        };
        c.insert(5, forged);
        assert_eq!(
            problems(&c),
            vec![Problem::Inserted {
                position: 5,
                claimed_seq: 5
            }]
        );
    }

    #[test]
    fn rewritten_chain_is_caught_by_checkpoint() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let c = chain(10);
        let cp = Checkpoint::sign(&key, "a", 7, &c[7].hash, 1);
        // Rewrite from #3 on, recomputing every hash.
        let mut forged = c.clone();
        forged[3].body.principal = "mallory".into();
        for i in 3..10 {
            if i > 3 {
                forged[i].body.prev_hash = forged[i - 1].hash.clone();
            }
            forged[i].hash = forged[i].body.hash();
        }
        let report = verify_chain(&forged, &[cp], None, Some(&key.verifying_key()));
        assert_eq!(report.problems.len(), 1);
        assert!(matches!(
            report.problems[0],
            Problem::Checkpoint { seq: 7, .. }
        ));
    }

    #[test]
    fn truncation_is_caught_by_checkpoint() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let c = chain(10);
        let cp = Checkpoint::sign(&key, "a", 9, &c[9].hash, 1);
        let report = verify_chain(&c[..8], &[cp], None, None);
        assert_eq!(
            report.problems,
            vec![Problem::Removed { first: 8, last: 9 }]
        );
    }
}
