//! The plate vocabulary: each day's distinct plates, sealed in chunks under that day's key (so a
//! purge shreds them with the reads), and held decrypted in memory while the store is open so
//! prefix, wildcard and fuzzy search scan distinct plates instead of decrypting reads.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition};

use crate::agency::AgencyStore;
use crate::crypto::DataKey;
use crate::error::{Result, StoreError};
use crate::schema::vocab_table;

#[derive(Default)]
pub struct Vocab {
    /// Normalised plate → days it was seen on (sorted).
    plates: BTreeMap<String, Vec<u32>>,
}

pub(crate) fn chunk_aad(agency: &str, day: u32, chunk: u32) -> Vec<u8> {
    format!("custos-vocab/v1|{agency}|{day}|{chunk}").into_bytes()
}

impl Vocab {
    pub fn contains(&self, day: u32, plate: &str) -> bool {
        self.plates
            .get(plate)
            .is_some_and(|d| d.binary_search(&day).is_ok())
    }

    pub fn add(&mut self, day: u32, plate: &str) {
        let days = self.plates.entry(plate.to_owned()).or_default();
        if let Err(i) = days.binary_search(&day) {
            days.insert(i, day);
        }
    }

    pub fn remove_day(&mut self, day: u32) {
        self.plates.retain(|_, days| {
            days.retain(|&d| d != day);
            !days.is_empty()
        });
    }

    pub fn len(&self) -> usize {
        self.plates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plates.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u32])> {
        self.plates.iter().map(|(p, d)| (p.as_str(), d.as_slice()))
    }

    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [u32])> {
        self.plates
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(p, _)| p.starts_with(prefix))
            .map(|(p, d)| (p.as_str(), d.as_slice()))
    }

    /// Decrypts one day's chunks into memory.
    pub(crate) fn load_day(&mut self, store: &AgencyStore, day: u32, key: &DataKey) -> Result<()> {
        let name = vocab_table(day);
        let def: TableDefinition<u32, &[u8]> = TableDefinition::new(&name);
        let txn = store.begin_read()?;
        let table = match txn.open_table(def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(store.db_err(e)),
        };
        for row in table.iter().map_err(|e| store.db_err(e))? {
            let (k, v) = row.map_err(|e| store.db_err(e))?;
            let chunk = k.value();
            let plain = key
                .seal
                .open(v.value(), &chunk_aad(store.agency(), day, chunk))
                .ok_or_else(|| StoreError::Decrypt {
                    agency: store.agency().into(),
                    what: format!("vocabulary chunk {chunk} of day {day}"),
                })?;
            let plates: Vec<String> =
                postcard::from_bytes(&plain).map_err(|e| StoreError::Malformed {
                    agency: store.agency().into(),
                    what: format!("vocabulary chunk {chunk} of day {day}"),
                    reason: e.to_string(),
                })?;
            for p in &plates {
                self.add(day, p);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_days_and_prefixes() {
        let mut v = Vocab::default();
        v.add(2, "AB12");
        v.add(1, "AB12");
        v.add(1, "AC99");
        v.add(1, "B1");
        assert!(v.contains(1, "AB12") && v.contains(2, "AB12"));
        let p: Vec<_> = v.with_prefix("A").map(|(p, _)| p.to_owned()).collect();
        assert_eq!(p, ["AB12", "AC99"]);
        v.remove_day(1);
        assert_eq!(v.len(), 1);
        assert!(!v.contains(1, "AB12"));
    }
}
