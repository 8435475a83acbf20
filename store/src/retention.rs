//! Retention: reads N days, hits M days (N ≤ M), optional hit-only mode (reads without a hit
//! deleted after K minutes), audit ≥ 1 year. A whole day past retention loses its tables and its
//! key (crypto-shredding); the boundary day loses rows older than the cut-off.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{ReadableTable, TableDefinition};
use serde::Serialize;

use crate::agency::{Access, AgencyStore};
use crate::audit::chain::StoredAudit;
use crate::clock::{MS_PER_DAY, day_of};
use crate::crypto::KeyName;
use crate::error::{Result, StoreError};
use crate::model::{HIT, ReadId, RetentionPolicy, header, index_key};
use crate::schema::{
    self, AUDIT, CHECKPOINTS, META, META_AUDIT_FLOOR, META_HIT_ONLY_CURSOR, META_POLICY,
    hits_table, index_table, reads_table, vocab_table,
};

/// What one purge run removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PurgeReport {
    pub days_purged: Vec<u32>,
    pub reads_deleted: u64,
    pub hits_deleted: u64,
    pub hit_only_deleted: u64,
    pub audit_entries_deleted: u64,
    pub keys_destroyed: Vec<String>,
}

impl AgencyStore {
    pub fn policy(&self) -> Result<RetentionPolicy> {
        let txn = self.begin_read()?;
        let t = txn.open_table(META).map_err(|e| self.db_err(e))?;
        let v = t.get(META_POLICY).map_err(|e| self.db_err(e))?;
        match v {
            Some(g) => serde_json::from_slice(g.value()).map_err(|e| StoreError::Malformed {
                agency: self.agency().into(),
                what: "retention policy".into(),
                reason: e.to_string(),
            }),
            None => Ok(RetentionPolicy::default()),
        }
    }

    pub fn set_policy(&self, access: &Access, policy: &RetentionPolicy) -> Result<()> {
        policy.validate()?;
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let json = serde_json::to_vec(policy).map_err(|e| StoreError::BadInput(e.to_string()))?;
        txn.open_table(META)
            .map_err(redb::Error::from)
            .and_then(|mut t| {
                t.insert(META_POLICY, json.as_slice())
                    .map(|_| ())
                    .map_err(redb::Error::from)
            })
            .map_err(|e| self.db_err(e))?;
        let params = String::from_utf8_lossy(&json).into_owned();
        self.audit_in(
            &txn,
            &access.event("retention.set_policy", "policy", params),
        )?;
        self.commit(txn)
    }

    /// Applies the policy at the clock's now. Every run writes an audit entry with its counts.
    pub fn purge(&self) -> Result<PurgeReport> {
        let policy = self.policy()?;
        let now = self.now_ms();
        let mut report = PurgeReport::default();
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let names: Vec<String> = txn
            .list_tables()
            .map_err(|e| self.db_err(e))?
            .map(|h| redb::TableHandle::name(&h).to_owned())
            .collect();

        // Reads: whole days past the cut-off go (tables dropped, key destroyed below).
        let reads_cutoff = now.saturating_sub(policy.reads_days as u64 * MS_PER_DAY);
        let mut read_days = schema::days_with(names.iter().cloned(), "reads/");
        read_days.extend(schema::days_with(names.iter().cloned(), "vocab/"));
        read_days.sort_unstable();
        read_days.dedup();
        for &day in &read_days {
            let day_end = (day as u64 + 1) * MS_PER_DAY;
            if day_end <= reads_cutoff {
                report.reads_deleted += self.drop_day(&txn, day)?;
                report.days_purged.push(day);
            } else if (day as u64) * MS_PER_DAY < reads_cutoff {
                report.reads_deleted += self.delete_rows(&txn, day, reads_cutoff, false)?;
            }
        }
        // Hit-only mode: non-hit reads older than K minutes, from the cursor on.
        if let Some(k) = policy.hit_only_minutes {
            let cut = now.saturating_sub(k as u64 * 60_000);
            let from = schema::read_u64(&txn, META_HIT_ONLY_CURSOR)
                .map_err(|e| self.db_err(e))?
                .unwrap_or(0);
            for day in read_days.iter().copied().filter(|&d| {
                !report.days_purged.contains(&d)
                    && (d as u64 + 1) * MS_PER_DAY > from
                    && (d as u64) * MS_PER_DAY < cut
            }) {
                report.hit_only_deleted += self.delete_rows(&txn, day, cut, true)?;
            }
            schema::write_u64(&txn, META_HIT_ONLY_CURSOR, cut).map_err(|e| self.db_err(e))?;
        }
        // Hits: whole days past M days.
        let hits_cutoff = now.saturating_sub(policy.hits_days as u64 * MS_PER_DAY);
        let mut destroy: Vec<KeyName> = Vec::new();
        for day in schema::days_with(names.iter().cloned(), "hits/") {
            if (day as u64 + 1) * MS_PER_DAY <= hits_cutoff {
                let name = hits_table(day);
                let def = TableDefinition::<u64, &[u8]>::new(&name);
                {
                    use redb::ReadableTableMetadata;
                    let t = txn.open_table(def).map_err(|e| self.db_err(e))?;
                    report.hits_deleted += t.len().map_err(|e| self.db_err(e))?;
                }
                txn.delete_table(def).map_err(|e| self.db_err(e))?;
            }
        }
        // Keys of days past retention, including any a crash left behind.
        for name in self.key_names() {
            let read_day_gone = name
                .as_day()
                .is_some_and(|d| (d as u64 + 1) * MS_PER_DAY <= reads_cutoff);
            let hit_day_gone = name
                .as_hit_day()
                .is_some_and(|d| (d as u64 + 1) * MS_PER_DAY <= hits_cutoff);
            if read_day_gone || hit_day_gone {
                destroy.push(name);
            }
        }
        report.keys_destroyed = destroy.iter().map(ToString::to_string).collect();
        report.audit_entries_deleted = self.purge_audit(&txn, now, policy.audit_days)?;

        let params = serde_json::to_string(&report).unwrap_or_default();
        let mut ev = Access::system("retention policy").event("retention.purge", "reads", params);
        ev.result_count = report.reads_deleted + report.hits_deleted + report.hit_only_deleted;
        self.audit_in(&txn, &ev)?;
        self.commit(txn)?;
        // After the commit: a crash here leaves the keys, and the next run destroys them.
        self.destroy_keys(&destroy)?;
        {
            let mut vocab = self.vocab.write().unwrap_or_else(|p| p.into_inner());
            let mut days = self.days.write().unwrap_or_else(|p| p.into_inner());
            for d in &report.days_purged {
                vocab.remove_day(*d);
                days.remove(d);
            }
        }
        tracing::info!(
            agency = self.agency(),
            days = report.days_purged.len(),
            reads = report.reads_deleted,
            hits = report.hits_deleted,
            hit_only = report.hit_only_deleted,
            keys = report.keys_destroyed.len(),
            "retention purge"
        );
        Ok(report)
    }

    /// Drops a day's reads, index and vocabulary tables; returns the number of reads.
    fn drop_day(&self, txn: &redb::WriteTransaction, day: u32) -> Result<u64> {
        use redb::ReadableTableMetadata;
        let rname = reads_table(day);
        let rdef = TableDefinition::<u64, &[u8]>::new(&rname);
        let n = match txn.open_table(rdef) {
            Ok(t) => t.len().map_err(|e| self.db_err(e))?,
            Err(e) => return Err(self.db_err(e)),
        };
        txn.delete_table(rdef).map_err(|e| self.db_err(e))?;
        let iname = index_table(day);
        txn.delete_table(TableDefinition::<&[u8], ()>::new(&iname))
            .map_err(|e| self.db_err(e))?;
        let vname = vocab_table(day);
        txn.delete_table(TableDefinition::<u32, &[u8]>::new(&vname))
            .map_err(|e| self.db_err(e))?;
        Ok(n)
    }

    /// Deletes a day's reads captured before `cut` (only non-hits if `non_hits_only`) and their
    /// index rows.
    fn delete_rows(
        &self,
        txn: &redb::WriteTransaction,
        day: u32,
        cut: u64,
        non_hits_only: bool,
    ) -> Result<u64> {
        let rname = reads_table(day);
        let mut t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&rname)) {
            Ok(t) => t,
            Err(e) => return Err(self.db_err(e)),
        };
        let mut index_rows = Vec::new();
        let lo = ReadId::new(day, 0).0;
        let hi = ReadId::new(day + 1, 0).0;
        let removed = t
            .extract_from_if(lo..hi, |_, v| {
                header(v).is_some_and(|(time, flags, _)| {
                    time < cut && (!non_hits_only || flags & HIT == 0)
                })
            })
            .map_err(|e| self.db_err(e))?;
        for row in removed {
            let (k, v) = row.map_err(|e| self.db_err(e))?;
            if let Some((time, _, token)) = header(v.value()) {
                index_rows.push(index_key(&token, time, ReadId(k.value())));
            }
        }
        drop(t);
        let n = index_rows.len() as u64;
        let iname = index_table(day);
        let mut it = txn
            .open_table(TableDefinition::<&[u8], ()>::new(&iname))
            .map_err(|e| self.db_err(e))?;
        for k in &index_rows {
            it.remove(&k[..]).map_err(|e| self.db_err(e))?;
        }
        Ok(n)
    }

    /// Drops audit entries older than `days`, keeping the chain verifiable from a floor.
    fn purge_audit(&self, txn: &redb::WriteTransaction, now: u64, days: u32) -> Result<u64> {
        let cut = now.saturating_sub(days as u64 * MS_PER_DAY);
        let mut t = txn.open_table(AUDIT).map_err(|e| self.db_err(e))?;
        let mut last_removed: Option<StoredAudit> = None;
        let mut n = 0;
        loop {
            let next = {
                let first = t.first().map_err(|e| self.db_err(e))?;
                first.map(|(k, v)| (k.value(), serde_json::from_slice::<StoredAudit>(v.value())))
            };
            let Some((key, parsed)) = next else { break };
            let e = parsed.map_err(|err| StoreError::Malformed {
                agency: self.agency().into(),
                what: format!("audit entry {key}"),
                reason: err.to_string(),
            })?;
            if e.time_ms >= cut {
                break;
            }
            t.remove(key).map_err(|e| self.db_err(e))?;
            last_removed = Some(e);
            n += 1;
        }
        drop(t);
        if let Some(e) = last_removed {
            let floor = serde_json::to_vec(&(e.seq + 1, e.hash)).unwrap_or_default();
            txn.open_table(META)
                .map_err(redb::Error::from)
                .and_then(|mut m| {
                    m.insert(META_AUDIT_FLOOR, floor.as_slice())
                        .map(|_| ())
                        .map_err(redb::Error::from)
                })
                .map_err(|e| self.db_err(e))?;
            txn.open_table(CHECKPOINTS)
                .map_err(redb::Error::from)
                .and_then(|mut c| {
                    c.retain_in(..=e.seq, |_, _| false)
                        .map_err(redb::Error::from)
                })
                .map_err(|e| self.db_err(e))?;
        }
        Ok(n)
    }
}

/// Runs [`AgencyStore::purge`] every `every` until dropped. Each run first carries out a wipe
/// that has come due ([`AgencyStore::wipe_if_due`]: a decommissioned agency whose grace period
/// has ended, by the store's clock); after a wipe the schedule ends.
pub struct RetentionScheduler {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RetentionScheduler {
    pub fn start(store: Arc<AgencyStore>, every: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("purge-{}", store.agency()))
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    match store.wipe_if_due() {
                        Ok(Some(cert)) => {
                            tracing::info!(
                                agency = store.agency(),
                                files = cert.files.len(),
                                "agency wiped after its grace period"
                            );
                            return;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(agency = store.agency(), error = %e, "scheduled wipe failed");
                            continue;
                        }
                    }
                    match store.purge() {
                        Ok(_) => {}
                        Err(StoreError::Wiped(_)) => return,
                        Err(e) => {
                            tracing::error!(agency = store.agency(), error = %e, "retention purge failed")
                        }
                    }
                }
            })
            .ok();
        Self {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for RetentionScheduler {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The UTC day of `ms`, re-exported for callers building windows.
pub fn day(ms: u64) -> u32 {
    day_of(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        assert!(RetentionPolicy::default().validate().is_ok());
        let p = RetentionPolicy {
            reads_days: 90,
            hits_days: 30,
            ..Default::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("at least as long")
        );
        let p = RetentionPolicy {
            audit_days: 100,
            ..Default::default()
        };
        assert!(p.validate().is_err());
    }
}
