//! The plate vocabulary: each day's distinct plates, sealed in chunks under that day's key (so a
//! purge shreds them with the reads), and held decrypted in memory while the store is open so
//! prefix, wildcard and fuzzy search scan distinct plates instead of decrypting reads.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use redb::{ReadableTable, TableDefinition};

use crate::agency::AgencyStore;
use crate::crypto::DataKey;
use crate::error::{Result, StoreError};
use crate::schema::vocab_table;

#[derive(Default)]
pub struct Vocab {
    /// Normalised plate → days it was seen on (sorted). Hashed: ingest asks "seen on this day?"
    /// for every read, and a B-tree of 500 k heap strings made that a chain of cache misses.
    days: HashMap<Arc<str>, Vec<u32>>,
    /// The same plates in order, for prefix ranges and scans in a stable order.
    sorted: BTreeSet<Arc<str>>,
}

pub(crate) fn chunk_aad(agency: &str, day: u32, chunk: u32) -> Vec<u8> {
    format!("custos-vocab/v1|{agency}|{day}|{chunk}").into_bytes()
}

impl Vocab {
    pub fn contains(&self, day: u32, plate: &str) -> bool {
        self.days
            .get(plate)
            .is_some_and(|d| d.binary_search(&day).is_ok())
    }

    pub fn add(&mut self, day: u32, plate: &str) {
        if let Some(days) = self.days.get_mut(plate) {
            if let Err(i) = days.binary_search(&day) {
                days.insert(i, day);
            }
            return;
        }
        let p: Arc<str> = Arc::from(plate);
        self.sorted.insert(p.clone());
        self.days.insert(p, vec![day]);
    }

    pub fn remove_day(&mut self, day: u32) {
        self.days.retain(|_, days| {
            days.retain(|&d| d != day);
            !days.is_empty()
        });
        let days = &self.days;
        self.sorted.retain(|p| days.contains_key(p));
    }

    pub fn len(&self) -> usize {
        self.days.len()
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// The days a plate was seen on (empty if never).
    pub fn days_of(&self, plate: &str) -> &[u32] {
        self.days.get(plate).map_or(&[], Vec::as_slice)
    }

    /// Every plate, in order.
    pub fn plates(&self) -> impl Iterator<Item = &str> {
        self.sorted.iter().map(|p| &**p)
    }

    /// Plates starting with `prefix`, in order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> {
        self.sorted
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |p| p.starts_with(prefix))
            .map(|p| &**p)
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
        let p: Vec<_> = v.with_prefix("A").collect();
        assert_eq!(p, ["AB12", "AC99"]);
        assert_eq!(v.days_of("AB12"), [1, 2]);
        v.remove_day(1);
        assert_eq!(v.len(), 1);
        assert!(!v.contains(1, "AB12"));
        assert_eq!(v.plates().collect::<Vec<_>>(), ["AB12"]);
    }
}
