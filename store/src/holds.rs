//! Legal holds: a case number pins named reads. Placing a hold moves each read out of its day
//! table and re-seals it under the hold's own key, so purging (and shredding) the day cannot touch
//! it. Releasing puts reads back under their day key, or deletes them if their day is gone.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::agency::{Access, AgencyStore};
use crate::crypto::KeyName;
use crate::error::{Result, StoreError};
use crate::model::{ReadId, SealedBy, StoredRead, index_key, read_aad};
use crate::records::RecordKind;
use crate::schema::{HELD_READS, READ_HOLDS, index_table, reads_table};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegalHold {
    pub id: u64,
    pub case_number: String,
    pub reason: String,
    pub placed_by: String,
    pub placed_at_ms: u64,
    pub read_ids: Vec<ReadId>,
    pub released_at_ms: Option<u64>,
}

impl AgencyStore {
    /// Places a hold naming `reads` under `case_number`.
    pub fn place_hold(&self, access: &Access, case_number: &str, reads: &[ReadId]) -> Result<u64> {
        if case_number.trim().is_empty() {
            return Err(StoreError::BadInput(
                "a legal hold needs a case number".into(),
            ));
        }
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let id = self.next_id_in(&txn)?;
        // The hold key reaches the keyring before the commit that uses it.
        self.ensure_keys(&[KeyName::hold(id)])?;
        let hold_key = self.data_key(&KeyName::hold(id))?;
        {
            let rtxn = self.begin_read()?;
            let mut held = txn.open_table(HELD_READS).map_err(|e| self.db_err(e))?;
            let mut links = txn.open_table(READ_HOLDS).map_err(|e| self.db_err(e))?;
            for &rid in reads {
                if held.get(rid.0).map_err(|e| self.db_err(e))?.is_none() {
                    let Some((bytes, _)) = self.raw_read(&rtxn, rid)? else {
                        return Err(StoreError::NoSuchRead {
                            agency: self.agency().into(),
                            read: rid.0,
                        });
                    };
                    let resealed = self.reseal(rid, &bytes, SealedBy::Hold(id), &hold_key.seal)?;
                    held.insert(rid.0, resealed.as_slice())
                        .map_err(|e| self.db_err(e))?;
                    self.unlink_from_day(&txn, rid, &bytes)?;
                }
                links.insert((rid.0, id), ()).map_err(|e| self.db_err(e))?;
            }
        }
        let hold = LegalHold {
            id,
            case_number: case_number.into(),
            reason: access.reason.clone(),
            placed_by: access.principal.clone(),
            placed_at_ms: self.now_ms(),
            read_ids: reads.to_vec(),
            released_at_ms: None,
        };
        self.put_record_in(&txn, RecordKind::Hold, id, &hold)?;
        let mut ev = access.clone().with_case(case_number).event(
            "hold.place",
            &format!("hold/{id}"),
            format!("{{\"reads\":{}}}", reads.len()),
        );
        ev.result_count = reads.len() as u64;
        self.audit_in(&txn, &ev)?;
        self.commit(txn)?;
        Ok(id)
    }

    /// Releases a hold; returns how many reads went back to their day and how many were deleted
    /// because their day had already been purged.
    pub fn release_hold(&self, access: &Access, hold_id: u64) -> Result<(u64, u64)> {
        let mut hold: LegalHold =
            self.get_record(RecordKind::Hold, hold_id)?
                .ok_or_else(|| StoreError::NoSuchHold {
                    agency: self.agency().into(),
                    hold: hold_id,
                })?;
        let (mut restored, mut deleted) = (0, 0);
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        {
            let mut held = txn.open_table(HELD_READS).map_err(|e| self.db_err(e))?;
            let mut links = txn.open_table(READ_HOLDS).map_err(|e| self.db_err(e))?;
            for &rid in &hold.read_ids {
                links.remove((rid.0, hold_id)).map_err(|e| self.db_err(e))?;
                let other = links
                    .range((rid.0, 0)..=(rid.0, u64::MAX))
                    .map_err(|e| self.db_err(e))?
                    .next()
                    .transpose()
                    .map_err(|e| self.db_err(e))?
                    .map(|(k, _)| k.value().1);
                let Some(bytes) = held
                    .get(rid.0)
                    .map_err(|e| self.db_err(e))?
                    .map(|v| v.value().to_vec())
                else {
                    continue;
                };
                let sealed_by = StoredRead::decode(&bytes).map(|s| s.tail.sealed_by);
                match other {
                    // Still held by another case: make sure that case's key seals it.
                    Some(other) => {
                        if sealed_by == Some(SealedBy::Hold(hold_id)) {
                            self.ensure_keys(&[KeyName::hold(other)])?;
                            let k = self.data_key(&KeyName::hold(other))?;
                            let b = self.reseal(rid, &bytes, SealedBy::Hold(other), &k.seal)?;
                            held.insert(rid.0, b.as_slice())
                                .map_err(|e| self.db_err(e))?;
                        }
                    }
                    None => {
                        held.remove(rid.0).map_err(|e| self.db_err(e))?;
                        let day = rid.day();
                        if self.has_key(&KeyName::day(day)) {
                            let k = self.data_key(&KeyName::day(day))?;
                            let b = self.reseal(rid, &bytes, SealedBy::Day(day), &k.seal)?;
                            self.link_to_day(&txn, rid, &b)?;
                            restored += 1;
                        } else {
                            deleted += 1;
                        }
                    }
                }
            }
        }
        hold.released_at_ms = Some(self.now_ms());
        self.put_record_in(&txn, RecordKind::Hold, hold_id, &hold)?;
        let mut ev = access.clone().with_case(&hold.case_number).event(
            "hold.release",
            &format!("hold/{hold_id}"),
            format!("{{\"restored\":{restored},\"deleted\":{deleted}}}"),
        );
        ev.result_count = restored + deleted;
        self.audit_in(&txn, &ev)?;
        self.commit(txn)?;
        self.destroy_keys(&[KeyName::hold(hold_id)])?;
        Ok((restored, deleted))
    }

    pub fn holds(&self) -> Result<Vec<LegalHold>> {
        Ok(self
            .list_records::<LegalHold>(RecordKind::Hold)?
            .into_iter()
            .map(|(_, h)| h)
            .collect())
    }

    fn reseal(
        &self,
        id: ReadId,
        bytes: &[u8],
        to: SealedBy,
        key: &crate::crypto::SealKey,
    ) -> Result<Vec<u8>> {
        let read_err = || StoreError::Decrypt {
            agency: self.agency().into(),
            what: format!("read {id}"),
        };
        let mut s = StoredRead::decode(bytes).ok_or_else(read_err)?;
        let from = match s.tail.sealed_by {
            SealedBy::Day(d) => self.data_key(&KeyName::day(d))?,
            SealedBy::Hold(h) => self.data_key(&KeyName::hold(h))?,
        };
        let aad = read_aad(self.agency(), id);
        let plain =
            zeroize::Zeroizing::new(from.seal.open(&s.tail.sealed, &aad).ok_or_else(read_err)?);
        s.tail.sealed = key.seal(&self.nonces, &plain, &aad);
        s.tail.sealed_by = to;
        Ok(s.encode())
    }

    fn unlink_from_day(
        &self,
        txn: &redb::WriteTransaction,
        id: ReadId,
        bytes: &[u8],
    ) -> Result<()> {
        let rname = reads_table(id.day());
        txn.open_table(TableDefinition::<u64, &[u8]>::new(&rname))
            .map_err(redb::Error::from)
            .and_then(|mut t| t.remove(id.0).map(|_| ()).map_err(redb::Error::from))
            .map_err(|e| self.db_err(e))?;
        if let Some((time, _, token)) = crate::model::header(bytes) {
            let iname = index_table(id.day());
            let k = index_key(&token, time, id);
            txn.open_table(TableDefinition::<&[u8], ()>::new(&iname))
                .map_err(redb::Error::from)
                .and_then(|mut t| t.remove(&k[..]).map(|_| ()).map_err(redb::Error::from))
                .map_err(|e| self.db_err(e))?;
        }
        Ok(())
    }

    fn link_to_day(&self, txn: &redb::WriteTransaction, id: ReadId, bytes: &[u8]) -> Result<()> {
        let rname = reads_table(id.day());
        txn.open_table(TableDefinition::<u64, &[u8]>::new(&rname))
            .map_err(redb::Error::from)
            .and_then(|mut t| t.insert(id.0, bytes).map(|_| ()).map_err(redb::Error::from))
            .map_err(|e| self.db_err(e))?;
        if let Some((time, _, token)) = crate::model::header(bytes) {
            let iname = index_table(id.day());
            let k = index_key(&token, time, id);
            txn.open_table(TableDefinition::<&[u8], ()>::new(&iname))
                .map_err(redb::Error::from)
                .and_then(|mut t| t.insert(&k[..], ()).map(|_| ()).map_err(redb::Error::from))
                .map_err(|e| self.db_err(e))?;
        }
        self.days
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.day());
        Ok(())
    }
}
