//! Ingest (batched, one durable commit per batch) and reading back single reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use redb::{ReadableTable, TableDefinition};

use crate::agency::AgencyStore;
use crate::clock::day_of;
use crate::crypto::{DataKey, KeyName};
use crate::error::{Result, StoreError};
use crate::model::{
    HIT, INDEX_KEY_LEN, NewRead, Payload, PayloadRef, Read, ReadId, SealedBy, StoredRead,
    StoredTail, index_key, read_aad,
};
use crate::schema::{self, HELD_READS, META_NEXT_READ, index_table, reads_table, vocab_table};
use crate::vocab::chunk_aad;

/// One read sealed and ready to insert.
struct Prepared {
    id: ReadId,
    stored: Vec<u8>,
    index: [u8; INDEX_KEY_LEN],
    /// The normalised plate when its day's vocabulary does not hold it yet.
    new_plate: Option<String>,
}

/// Reads sealed per hand-over from the sealing thread to the inserting one: small enough that
/// both are busy from the start, large enough that sorting each part still groups the index
/// inserts by B-tree page.
const PART: usize = 1024;

impl AgencyStore {
    /// Stores a batch in one durable transaction and returns the new ids. When this returns, the
    /// reads are on disk ("acknowledged"). Callers batch (thousands per call) for throughput.
    ///
    /// Sealing (about half the CPU) runs on a second thread, a part ahead of the B-tree inserts,
    /// so the two overlap.
    pub fn ingest(&self, reads: &[NewRead]) -> Result<Vec<ReadId>> {
        self.check_not_decommissioned()?;
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let hit_only = self.policy()?.hit_only_minutes.is_some();
        let _w = self.write_guard();
        let days: BTreeSet<u32> = reads.iter().map(|r| day_of(r.captured_at_ms)).collect();
        let names: Vec<KeyName> = days.iter().map(|&d| KeyName::day(d)).collect();
        self.ensure_keys(&names)?;
        let keys: HashMap<u32, Arc<DataKey>> = days
            .iter()
            .map(|&d| Ok((d, self.data_key(&KeyName::day(d))?)))
            .collect::<Result<_>>()?;

        let txn = self.begin_write()?;
        let first_seq = schema::read_u64(&txn, META_NEXT_READ)
            .map_err(|e| self.db_err(e))?
            .unwrap_or(0);
        let seal = |start: usize| self.prepare(reads, start, hit_only, first_seq, &keys);
        let mut ids = Vec::with_capacity(reads.len());
        let mut new_plates: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        let mut insert = |part: Vec<Prepared>| -> Result<()> {
            self.insert_part(&txn, &part)?;
            for p in part {
                ids.push(p.id);
                if let Some(plate) = p.new_plate {
                    new_plates.entry(p.id.day()).or_default().insert(plate);
                }
            }
            Ok(())
        };
        if reads.len() <= PART {
            insert(seal(0))?;
        } else {
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::sync_channel(2);
                s.spawn(move || {
                    for start in (0..reads.len()).step_by(PART) {
                        // The receiver is gone only when an insert failed: stop sealing.
                        if tx.send(seal(start)).is_err() {
                            break;
                        }
                    }
                });
                rx.into_iter().try_for_each(&mut insert)
            })?;
        }
        for (day, plates) in &new_plates {
            let vname = vocab_table(*day);
            let mut vt = txn
                .open_table(TableDefinition::<u32, &[u8]>::new(&vname))
                .map_err(|e| self.db_err(e))?;
            let chunk = vt
                .last()
                .map_err(|e| self.db_err(e))?
                .map_or(0, |(k, _)| k.value() + 1);
            let list: Vec<&str> = plates.iter().map(String::as_str).collect();
            let sealed = keys[day].seal.seal_serialized(
                &self.nonces,
                &list,
                &chunk_aad(self.agency(), *day, chunk),
            );
            vt.insert(chunk, sealed.as_slice())
                .map_err(|e| self.db_err(e))?;
        }
        schema::write_u64(&txn, META_NEXT_READ, first_seq + reads.len() as u64)
            .map_err(|e| self.db_err(e))?;
        self.commit(txn)?;

        {
            let mut vocab = self.vocab.write().unwrap_or_else(|p| p.into_inner());
            for (day, plates) in &new_plates {
                for p in plates {
                    vocab.add(*day, p);
                }
            }
        }
        self.days
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(days);
        tracing::debug!(
            agency = self.agency(),
            reads = reads.len(),
            "ingested a batch"
        );
        Ok(ids)
    }

    /// Inserts one part of a batch: each read, and its blind-index key in key order.
    fn insert_part(&self, txn: &redb::WriteTransaction, part: &[Prepared]) -> Result<()> {
        let mut by_day: BTreeMap<u32, Vec<&Prepared>> = BTreeMap::new();
        for p in part {
            by_day.entry(p.id.day()).or_default().push(p);
        }
        for (day, rows) in &by_day {
            let rname = reads_table(*day);
            let mut rt = txn
                .open_table(TableDefinition::<u64, &[u8]>::new(&rname))
                .map_err(|e| self.db_err(e))?;
            for p in rows {
                rt.insert(p.id.0, p.stored.as_slice())
                    .map_err(|e| self.db_err(e))?;
            }
            drop(rt);
            let iname = index_table(*day);
            let mut it = txn
                .open_table(TableDefinition::<&[u8], ()>::new(&iname))
                .map_err(|e| self.db_err(e))?;
            // Sorted inserts touch each B-tree page once.
            let mut idx: Vec<&[u8; INDEX_KEY_LEN]> = rows.iter().map(|p| &p.index).collect();
            idx.sort_unstable();
            for k in idx {
                it.insert(&k[..], ()).map_err(|e| self.db_err(e))?;
            }
        }
        Ok(())
    }

    /// Seals and tokenises the part of a batch that starts at `start`, and notes the plates its
    /// day's vocabulary lacks. In hit-only mode only hits may outlive the K-minute window, so
    /// only their plates enter the vocabulary.
    fn prepare(
        &self,
        reads: &[NewRead],
        start: usize,
        hit_only: bool,
        first_seq: u64,
        keys: &HashMap<u32, Arc<DataKey>>,
    ) -> Vec<Prepared> {
        let vocab = self.vocab.read().unwrap_or_else(|p| p.into_inner());
        let end = (start + PART).min(reads.len());
        (start..end)
            .map(|i| {
                let r = &reads[i];
                let day = day_of(r.captured_at_ms);
                let key = &keys[&day];
                let id = ReadId::new(day, first_seq + i as u64);
                let plate = r.stored_plate();
                let token = key.blind.token(&plate);
                let sealed = key.seal.seal_serialized(
                    &self.nonces,
                    &PayloadRef::of(r),
                    &read_aad(self.agency(), id),
                );
                let stored = StoredRead {
                    captured_at_ms: r.captured_at_ms,
                    hit_flags: r.hit_flags,
                    token,
                    tail: StoredTail {
                        sealed_by: SealedBy::Day(day),
                        camera: r.camera.as_str().to_owned(),
                        confidence: r.confidence,
                        track_id: r.track_id,
                        sealed,
                    },
                };
                let listed = (hit_only && r.hit_flags & HIT == 0) || vocab.contains(day, &plate);
                Prepared {
                    id,
                    stored: stored.encode(),
                    index: index_key(&token, r.captured_at_ms, id),
                    new_plate: (!listed).then_some(plate),
                }
            })
            .collect()
    }

    /// Opens a stored read with the key that sealed it.
    pub(crate) fn decrypt(&self, id: ReadId, bytes: &[u8], held: bool) -> Result<Read> {
        let malformed = |reason: &str| StoreError::Malformed {
            agency: self.agency().into(),
            what: format!("read {id}"),
            reason: reason.into(),
        };
        let s = StoredRead::decode(bytes).ok_or_else(|| malformed("bad stored form"))?;
        let key = match s.tail.sealed_by {
            SealedBy::Day(d) => self.data_key(&KeyName::day(d))?,
            SealedBy::Hold(h) => self.data_key(&KeyName::hold(h))?,
        };
        let plain = key
            .seal
            .open(&s.tail.sealed, &read_aad(self.agency(), id))
            .ok_or_else(|| StoreError::Decrypt {
                agency: self.agency().into(),
                what: format!("read {id}"),
            })?;
        let p: Payload = postcard::from_bytes(&plain).map_err(|e| malformed(&e.to_string()))?;
        Ok(Read {
            id,
            camera: s.tail.camera,
            captured_at_ms: s.captured_at_ms,
            plate: p.plate,
            confidence: s.tail.confidence,
            char_confidences: p.char_confidences,
            candidates: p.candidates,
            plate_box: p.plate_box,
            crop_jpeg: p.crop_jpeg,
            context_jpeg: p.context_jpeg,
            track_id: s.tail.track_id,
            hit_flags: s.hit_flags,
            held,
        })
    }

    /// The stored bytes of a read and whether it is held, without decrypting.
    pub(crate) fn raw_read(
        &self,
        txn: &redb::ReadTransaction,
        id: ReadId,
    ) -> Result<Option<(Vec<u8>, bool)>> {
        let name = reads_table(id.day());
        match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
            Ok(t) => {
                if let Some(v) = t.get(id.0).map_err(|e| self.db_err(e))? {
                    return Ok(Some((v.value().to_vec(), false)));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.db_err(e)),
        }
        match txn.open_table(HELD_READS) {
            Ok(t) => Ok(t
                .get(id.0)
                .map_err(|e| self.db_err(e))?
                .map(|v| (v.value().to_vec(), true))),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.db_err(e)),
        }
    }

    /// One read by id, decrypted, audited.
    pub fn get_read(&self, access: &crate::Access, id: ReadId) -> Result<Option<Read>> {
        let found = self.fetch_read(id)?;
        let mut ev = access.event("read.get", &id.to_string(), "{}".into());
        ev.result_count = found.is_some() as u64;
        self.audit(ev)?;
        Ok(found)
    }

    /// One read by id, decrypted, without an audit entry of its own: for a caller that writes
    /// one (the gRPC layer). Everything else uses [`get_read`](Self::get_read).
    pub fn fetch_read(&self, id: ReadId) -> Result<Option<Read>> {
        let txn = self.begin_read()?;
        match self.raw_read(&txn, id)? {
            Some((bytes, held)) => Ok(Some(self.decrypt(id, &bytes, held)?)),
            None => Ok(None),
        }
    }

    /// Number of reads stored (live day tables plus held reads); for tests and benchmarks.
    pub fn count_reads(&self) -> Result<u64> {
        use redb::ReadableTableMetadata;
        let txn = self.begin_read()?;
        let mut n = 0;
        let days: Vec<u32> = self
            .days
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        for d in days {
            let name = reads_table(d);
            match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                Ok(t) => n += t.len().map_err(|e| self.db_err(e))?,
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(self.db_err(e)),
            }
        }
        match txn.open_table(HELD_READS) {
            Ok(t) => n += t.len().map_err(|e| self.db_err(e))?,
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.db_err(e)),
        }
        Ok(n)
    }
}
