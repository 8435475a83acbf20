//! Plate search. Exact: the blind index, no decryption. Prefix, wildcard and fuzzy: match the
//! in-memory vocabulary of distinct plates (see [`crate::vocab`]), then look each matching plate up
//! through the blind index of the days it was seen on. The time window is part of the index key
//! (one range per 8-hour block of the window).

use custos_core::within_edits;
use redb::{ReadableTable, TableDefinition};
use serde::Serialize;

use crate::agency::{Access, AgencyStore};
use crate::clock::{MS_PER_DAY, day_of};
use crate::crypto::KeyName;
use crate::error::{Result, StoreError};
use crate::model::{INDEX_BUCKET_MS, Read, ReadId, index_bucket, index_key, index_key_id};
use crate::schema::{HELD_READS, index_table, reads_table};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlateQuery {
    Exact {
        plate: String,
    },
    Prefix {
        prefix: String,
    },
    /// `*` any run of characters, `?` exactly one.
    Wildcard {
        pattern: String,
    },
    /// Plates within `max_edits` (at most 2) insertions, deletions or substitutions.
    Fuzzy {
        plate: String,
        max_edits: u8,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Search {
    pub query: PlateQuery,
    pub from_ms: u64,
    pub to_ms: u64,
    pub limit: usize,
}

#[derive(Clone, Debug, Default)]
pub struct SearchResult {
    pub reads: Vec<Read>,
    /// Distinct plates that matched the pattern.
    pub matched_plates: usize,
    /// More reads matched than `limit`.
    pub truncated: bool,
}

/// Normalises a wildcard pattern: plate characters upper-cased, `*` and `?` kept.
fn normalise_pattern(p: &str) -> String {
    p.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '*' || *c == '?')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Glob match with `*` and `?` (iterative, linear backtracking).
pub fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A query with its pattern normalised once, for matching many plates.
enum Matcher {
    Exact(String),
    Prefix(String),
    Wildcard(Vec<u8>),
    Fuzzy(Vec<u8>, usize),
}

impl Matcher {
    fn new(q: &PlateQuery) -> Self {
        match q {
            PlateQuery::Exact { plate } => Matcher::Exact(custos_core::normalize_plate(plate)),
            PlateQuery::Prefix { prefix } => Matcher::Prefix(custos_core::normalize_plate(prefix)),
            PlateQuery::Wildcard { pattern } => {
                Matcher::Wildcard(normalise_pattern(pattern).into_bytes())
            }
            PlateQuery::Fuzzy { plate, max_edits } => Matcher::Fuzzy(
                custos_core::normalize_plate(plate).into_bytes(),
                *max_edits as usize,
            ),
        }
    }

    fn matches(&self, plate: &str) -> bool {
        match self {
            Matcher::Exact(p) => p == plate,
            Matcher::Prefix(p) => plate.starts_with(p.as_str()),
            Matcher::Wildcard(p) => wildcard_match(p, plate.as_bytes()),
            Matcher::Fuzzy(p, k) => within_edits(p, plate.as_bytes(), *k),
        }
    }
}

impl AgencyStore {
    /// Runs a search and records it in the audit log (pattern sealed at rest).
    pub fn search(&self, access: &Access, search: &Search) -> Result<SearchResult> {
        let result = self.find(search)?;
        let params = serde_json::to_string(search).unwrap_or_default();
        let mut ev = access.event("search", "reads", params);
        ev.result_count = result.reads.len() as u64;
        self.audit(ev)?;
        Ok(result)
    }

    /// The search without an audit entry of its own: for a caller that has already written one
    /// (the gRPC layer audits every call before its handler runs). Everything else uses
    /// [`search`](Self::search).
    pub fn find(&self, search: &Search) -> Result<SearchResult> {
        if let PlateQuery::Fuzzy { max_edits, .. } = search.query
            && max_edits > 2
        {
            return Err(StoreError::BadInput(format!(
                "fuzzy search allows at most 2 edits, not {max_edits}"
            )));
        }
        if search.from_ms > search.to_ms {
            return Err(StoreError::BadInput(
                "search window ends before it starts".into(),
            ));
        }
        let (d0, d1) = (day_of(search.from_ms), day_of(search.to_ms));
        let matcher = Matcher::new(&search.query);
        // (plate, days to look in)
        let candidates: Vec<(String, Vec<u32>)> = {
            let window: Vec<u32> = self
                .days
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .range(d0..=d1)
                .copied()
                .collect();
            let vocab = self.vocab.read().unwrap_or_else(|p| p.into_inner());
            let in_window = |days: &[u32]| -> Vec<u32> {
                days.iter()
                    .copied()
                    .filter(|d| (d0..=d1).contains(d))
                    .collect()
            };
            match &search.query {
                PlateQuery::Exact { plate } => {
                    vec![(custos_core::normalize_plate(plate), window)]
                }
                PlateQuery::Prefix { prefix } => {
                    let prefix = custos_core::normalize_plate(prefix);
                    vocab
                        .with_prefix(&prefix)
                        .map(|p| (p.to_owned(), in_window(vocab.days_of(p))))
                        .filter(|(_, d)| !d.is_empty())
                        .collect()
                }
                _ => vocab
                    .plates()
                    .filter(|p| matcher.matches(p))
                    .map(|p| (p.to_owned(), in_window(vocab.days_of(p))))
                    .filter(|(_, d)| !d.is_empty())
                    .collect(),
            }
        };
        let mut result = SearchResult {
            matched_plates: candidates.len(),
            ..Default::default()
        };
        let txn = self.begin_read()?;
        let mut ids: Vec<(u32, ReadId)> = Vec::new();
        'outer: for (plate, days) in &candidates {
            for &day in days {
                let key = match self.data_key(&KeyName::day(day)) {
                    Ok(k) => k,
                    Err(StoreError::KeyDestroyed { .. }) => continue,
                    Err(e) => return Err(e),
                };
                let token = key.blind.token(plate);
                let name = index_table(day);
                let t = match txn.open_table(TableDefinition::<&[u8], ()>::new(&name)) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => continue,
                    Err(e) => return Err(self.db_err(e)),
                };
                // One range per 8-hour block of the day that the window covers.
                let day_start = day as u64 * MS_PER_DAY;
                let from = search.from_ms.max(day_start);
                let to = search.to_ms.min(day_start + MS_PER_DAY - 1);
                for bucket in index_bucket(from)..=index_bucket(to) {
                    let b0 = day_start + bucket as u64 * INDEX_BUCKET_MS;
                    let lo = index_key(&token, from.max(b0), ReadId(0));
                    let hi = index_key(&token, to.min(b0 + INDEX_BUCKET_MS - 1), ReadId(u64::MAX));
                    for row in t.range(&lo[..]..=&hi[..]).map_err(|e| self.db_err(e))? {
                        let (k, _) = row.map_err(|e| self.db_err(e))?;
                        let Some(id) = index_key_id(k.value()) else {
                            continue;
                        };
                        if ids.len() == search.limit {
                            result.truncated = true;
                            break 'outer;
                        }
                        ids.push((day, id));
                    }
                }
            }
        }
        for (day, id) in ids {
            let name = reads_table(day);
            let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(self.db_err(e)),
            };
            // Index rows of reads removed by hit-only or partial-day retention are skipped.
            if let Some(v) = t.get(id.0).map_err(|e| self.db_err(e))? {
                result.reads.push(self.decrypt(id, v.value(), false)?);
            }
        }
        // Held reads left their day tables (and may outlive them): few, so scanned.
        match txn.open_table(HELD_READS) {
            Ok(t) => {
                for row in t.iter().map_err(|e| self.db_err(e))? {
                    let (k, v) = row.map_err(|e| self.db_err(e))?;
                    let Some((time, _, _)) = crate::model::header(v.value()) else {
                        continue;
                    };
                    if time < search.from_ms || time > search.to_ms {
                        continue;
                    }
                    let read = self.decrypt(ReadId(k.value()), v.value(), true)?;
                    if matcher.matches(&custos_core::normalize_plate(&read.plate)) {
                        if result.reads.len() >= search.limit {
                            result.truncated = true;
                            break;
                        }
                        result.reads.push(read);
                    }
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.db_err(e)),
        }
        result.reads.sort_by_key(|r| (r.captured_at_ms, r.id));
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"AB*", b"AB12CD"));
        assert!(wildcard_match(b"A?12*D", b"AB12CD"));
        assert!(wildcard_match(b"*CD", b"AB12CD"));
        assert!(!wildcard_match(b"A?12", b"AB12CD"));
        assert!(!wildcard_match(b"?", b""));
        assert!(wildcard_match(b"*", b""));
    }

    #[test]
    fn pattern_normalisation() {
        assert_eq!(normalise_pattern("ab-1*?"), "AB1*?");
    }
}
