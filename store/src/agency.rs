//! [`AgencyStore`]: the handle through which every call reaches exactly one agency's data.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use ed25519_dalek::SigningKey;
use redb::{Database, ReadableDatabase, ReadableTable};

use crate::appliance::{Layout, make_private_dir, signing_key};
use crate::audit::chain::{Appender, StoredAudit, unseal};
use crate::audit::{AuditEvent, AuditRecord, Checkpoint, VerifyReport, verify_chain};
use crate::clock::{Clock, SystemClock};
use crate::crypto::{
    DataKey, FileKeyProvider, KeyName, KeyProvider, Keyring, NonceSource, create_key_file,
};
use crate::error::{Result, StoreError, redb_disk_full};
use crate::model::RetentionPolicy;
use crate::schema::{self, AUDIT, CHECKPOINTS, META, META_AUDIT_FLOOR, META_POLICY, META_VERSION};
use crate::vocab::Vocab;
use crate::wipe::Decommission;

/// An agency's id: 1-64 characters of `A-Z a-z 0-9 - _`, safe as a directory name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgencyId(String);

impl AgencyId {
    pub fn new(id: &str) -> Result<Self> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(StoreError::BadAgencyId(id.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who is asking and why: every audited call takes one.
#[derive(Clone, Debug, PartialEq)]
pub struct Access {
    pub principal: String,
    pub reason: String,
    pub case_number: Option<String>,
}

impl Access {
    pub fn new(principal: &str, reason: &str) -> Self {
        Self {
            principal: principal.into(),
            reason: reason.into(),
            case_number: None,
        }
    }
    pub fn with_case(mut self, case: &str) -> Self {
        self.case_number = Some(case.into());
        self
    }
    /// The store acting on its own (scheduled purge).
    pub fn system(reason: &str) -> Self {
        Self::new("system", reason)
    }
    pub(crate) fn event(&self, action: &str, target: &str, parameters: String) -> AuditEvent {
        AuditEvent {
            principal: self.principal.clone(),
            action: action.into(),
            target: target.into(),
            reason: self.reason.clone(),
            case_number: self.case_number.clone(),
            parameters,
            result_count: 0,
            outcome: "ok".into(),
        }
    }
}

pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    /// The master key; by default the agency's key file.
    pub key_provider: Option<Box<dyn KeyProvider>>,
    /// redb page cache in bytes.
    pub cache_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            key_provider: None,
            cache_bytes: 256 << 20,
        }
    }
}

pub struct AgencyStore {
    pub(crate) agency: AgencyId,
    pub(crate) layout: Layout,
    pub(crate) db_path: PathBuf,
    /// `None` once the agency has been wiped while open: every later call fails with
    /// [`StoreError::Wiped`] instead of reaching files that are gone.
    db: RwLock<Option<Database>>,
    /// The master key; `None` once wiped (so no new key can be wrapped).
    provider: Mutex<Option<Box<dyn KeyProvider>>>,
    pub(crate) keyring: Mutex<Keyring>,
    keys: RwLock<HashMap<KeyName, Arc<DataKey>>>,
    pub(crate) nonces: NonceSource,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) signer: SigningKey,
    pub(crate) vocab: RwLock<Vocab>,
    /// Days that have a reads table.
    pub(crate) days: RwLock<BTreeSet<u32>>,
    /// One writer at a time (keyring updates must precede the commit that uses a new key).
    writer: Mutex<()>,
    pub(crate) decommission: Mutex<Option<Decommission>>,
    /// Serialises read-verify-write of one principal's login secrets.
    pub(crate) login_locks: crate::principals::LoginLocks,
}

impl AgencyStore {
    /// Provisions a new agency: directory (0700), master key file (0600), keyring, database.
    pub fn create(layout: &Layout, agency: &str, opts: StoreOptions) -> Result<Self> {
        let id = AgencyId::new(agency)?;
        let dir = layout.agency_dir(id.as_str());
        if dir.exists() {
            return Err(StoreError::AgencyExists(id.0, dir));
        }
        make_private_dir(&dir)?;
        if opts.key_provider.is_none() {
            create_key_file(&layout.key_path(id.as_str()))?;
        }
        Keyring::create(&layout.keyring_path(id.as_str()), id.as_str())?;
        let db_path = layout.db_path(id.as_str());
        let db = Database::builder()
            .create(&db_path)
            .map_err(|e| db_error(id.as_str(), &db_path, e.into()))?;
        let init = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                meta.insert(META_VERSION, &schema::CURRENT_VERSION.to_le_bytes()[..])?;
                let policy = serde_json::to_vec(&RetentionPolicy::default())
                    .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
                meta.insert(META_POLICY, policy.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        };
        init().map_err(|e| db_error(id.as_str(), &db_path, e))?;
        drop(db);
        let store = Self::open(layout, agency, opts)?;
        store.audit(Access::system("provisioning").event(
            "agency.create",
            id.as_str(),
            "{}".into(),
        ))?;
        Ok(store)
    }

    /// Opens an existing agency, upgrading its schema if it is older than this build's.
    pub fn open(layout: &Layout, agency: &str, opts: StoreOptions) -> Result<Self> {
        let id = AgencyId::new(agency)?;
        let dir = layout.agency_dir(id.as_str());
        if !dir.is_dir() {
            return Err(StoreError::NoSuchAgency(id.0, dir));
        }
        let provider: Box<dyn KeyProvider> = match opts.key_provider {
            Some(p) => p,
            None => Box::new(FileKeyProvider::open(&layout.key_path(id.as_str()))?),
        };
        let keyring = Keyring::load(
            &layout.keyring_path(id.as_str()),
            id.as_str(),
            provider.as_ref(),
        )?;
        let db_path = layout.db_path(id.as_str());
        let dberr = |e: redb::Error| db_error(id.as_str(), &db_path, e);
        let db = Database::builder()
            .set_cache_size(opts.cache_bytes)
            .open(&db_path)
            .map_err(|e| dberr(e.into()))?;
        let version = schema::version_of(&db).map_err(dberr)?;
        if version > schema::CURRENT_VERSION {
            return Err(StoreError::SchemaTooNew {
                agency: id.0,
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        if version < schema::CURRENT_VERSION {
            let steps = schema::upgrade(&db, version).map_err(dberr)?;
            tracing::info!(agency = id.as_str(), ?steps, "upgraded the store schema");
        }
        let decommission = Decommission::load(layout, id.as_str())?;
        let store = Self {
            signer: signing_key(layout)?,
            nonces: NonceSource::new().map_err(|e| StoreError::BadInput(e.to_string()))?,
            agency: id,
            layout: layout.clone(),
            db_path,
            db: RwLock::new(Some(db)),
            provider: Mutex::new(Some(provider)),
            keyring: Mutex::new(keyring),
            keys: RwLock::new(HashMap::new()),
            clock: opts.clock,
            vocab: RwLock::new(Vocab::default()),
            days: RwLock::new(BTreeSet::new()),
            writer: Mutex::new(()),
            decommission: Mutex::new(decommission),
            login_locks: Default::default(),
        };
        store.ensure_keys(&[KeyName::records(), KeyName::audit()])?;
        store.load_days_and_vocab()?;
        Ok(store)
    }

    pub fn agency(&self) -> &str {
        self.agency.as_str()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn db_path(&self) -> &std::path::Path {
        &self.db_path
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub(crate) fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_error(self.agency(), &self.db_path, e.into())
    }

    pub(crate) fn write_guard(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction> {
        let db = self.db.read().unwrap_or_else(|p| p.into_inner());
        let db = db.as_ref().ok_or_else(|| self.wiped())?;
        db.begin_write().map_err(|e| self.db_err(e))
    }

    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction> {
        let db = self.db.read().unwrap_or_else(|p| p.into_inner());
        let db = db.as_ref().ok_or_else(|| self.wiped())?;
        db.begin_read().map_err(|e| self.db_err(e))
    }

    pub(crate) fn db_is_closed(&self) -> bool {
        self.db.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    fn wiped(&self) -> StoreError {
        StoreError::Wiped(self.agency().into())
    }

    /// Forgets everything that could read the agency's data and closes the database (the caller
    /// holds the write guard, so no write transaction is open). A read still running on another
    /// thread may fail with a database error; new calls fail with [`StoreError::Wiped`].
    pub(crate) fn close_for_wipe(&self) {
        drop(self.db.write().unwrap_or_else(|p| p.into_inner()).take());
        let mut ring = self.keyring.lock().unwrap_or_else(|p| p.into_inner());
        let names: Vec<KeyName> = ring.names().cloned().collect();
        ring.destroy(&names);
        drop(ring);
        drop(
            self.provider
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        self.keys.write().unwrap_or_else(|p| p.into_inner()).clear();
        // The vocabulary is plaintext plates.
        *self.vocab.write().unwrap_or_else(|p| p.into_inner()) = Vocab::default();
        self.days.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub(crate) fn commit(&self, txn: redb::WriteTransaction) -> Result<()> {
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// The data key of `name`, or [`StoreError::KeyDestroyed`].
    pub(crate) fn data_key(&self, name: &KeyName) -> Result<Arc<DataKey>> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(k.clone());
        }
        let ring = self.keyring.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bytes) = ring.get(name) else {
            if self.db_is_closed() {
                return Err(self.wiped());
            }
            return Err(StoreError::KeyDestroyed {
                agency: self.agency().into(),
                key: name.to_string(),
            });
        };
        let key = Arc::new(DataKey::from_bytes(bytes));
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), key.clone());
        Ok(key)
    }

    pub(crate) fn has_key(&self, name: &KeyName) -> bool {
        self.keyring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .is_some()
    }

    /// Creates missing keys and writes the keyring before any data sealed with them is committed.
    pub(crate) fn ensure_keys(&self, names: &[KeyName]) -> Result<()> {
        let mut ring = self.keyring.lock().unwrap_or_else(|p| p.into_inner());
        let provider = self.provider.lock().unwrap_or_else(|p| p.into_inner());
        let provider = provider.as_deref().ok_or_else(|| self.wiped())?;
        let mut created = Vec::new();
        for n in names {
            if ring.ensure(n, provider)? {
                created.push(n.clone());
            }
        }
        if !created.is_empty()
            && let Err(e) = ring.persist()
        {
            // Forget keys the file does not hold: kept in memory, a later write would seal
            // acknowledged data with a key that a restart has lost.
            ring.destroy(&created);
            return Err(e);
        }
        Ok(())
    }

    /// Destroys keys: from memory and from the keyring file (crypto-shredding).
    pub(crate) fn destroy_keys(&self, names: &[KeyName]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut ring = self.keyring.lock().unwrap_or_else(|p| p.into_inner());
        ring.destroy(names);
        ring.persist()?;
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        for n in names {
            cache.remove(n);
        }
        Ok(())
    }

    pub(crate) fn key_names(&self) -> Vec<KeyName> {
        self.keyring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .names()
            .cloned()
            .collect()
    }

    /// Appends an audit entry inside `txn`.
    pub(crate) fn audit_in(&self, txn: &redb::WriteTransaction, ev: &AuditEvent) -> Result<u64> {
        let key = self.data_key(&KeyName::audit())?;
        Appender {
            agency: self.agency(),
            key: &key.seal,
            nonces: &self.nonces,
            signer: &self.signer,
        }
        .append(txn, self.now_ms(), ev)
        .map_err(|e| self.db_err(e))
    }

    /// Appends an audit entry in its own durable transaction.
    pub fn audit(&self, ev: AuditEvent) -> Result<u64> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let seq = self.audit_in(&txn, &ev)?;
        self.commit(txn)?;
        Ok(seq)
    }

    /// Appends entries in one durable transaction (group commit: the gRPC layer batches the
    /// entries of concurrent calls).
    pub fn audit_batch(&self, evs: &[AuditEvent]) -> Result<()> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        for ev in evs {
            self.audit_in(&txn, ev)?;
        }
        self.commit(txn)
    }

    /// Signs a checkpoint over the current head of the chain (exports and shutdown do this, so
    /// truncating the tail is caught too).
    pub fn checkpoint_now(&self) -> Result<()> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let head = {
            let t = txn.open_table(AUDIT).map_err(|e| self.db_err(e))?;
            let last = t.last().map_err(|e| self.db_err(e))?;
            last.and_then(|(_, v)| serde_json::from_slice::<StoredAudit>(v.value()).ok())
        };
        if let Some(h) = head {
            let key = self.data_key(&KeyName::audit())?;
            Appender {
                agency: self.agency(),
                key: &key.seal,
                nonces: &self.nonces,
                signer: &self.signer,
            }
            .checkpoint(&txn, self.now_ms(), h.seq, &h.hash)
            .map_err(|e| self.db_err(e))?;
        }
        self.commit(txn)
    }

    /// The audit log in plain text (parameters unsealed), its checkpoints and floor. Entries whose
    /// parameters do not unseal are returned with their seq in the fourth field. Read in a read
    /// transaction: ingest and every call's audit entry go on while an auditor reads.
    pub fn audit_log(&self) -> Result<AuditLog> {
        let key = self.data_key(&KeyName::audit())?;
        let txn = self.begin_read()?;
        let floor = self.audit_floor(&txn)?;
        let mut records = Vec::new();
        let mut unsealable = Vec::new();
        self.each_audit(&txn, 0, |stored| {
            let (rec, ok) = unseal(stored, &key.seal);
            if !ok {
                unsealable.push(rec.body.seq);
            }
            records.push(rec);
            true
        })?;
        let mut checkpoints = Vec::new();
        if let Some(t) = self.read_table(&txn, CHECKPOINTS)? {
            for row in t.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = row.map_err(|e| self.db_err(e))?;
                checkpoints.push(
                    serde_json::from_slice::<Checkpoint>(v.value()).map_err(|e| {
                        self.malformed(format!("audit checkpoint at key {}", k.value()), e)
                    })?,
                );
            }
        }
        Ok(AuditLog {
            records,
            checkpoints,
            floor,
            unsealable,
        })
    }

    /// Up to `limit` audit entries from sequence `from` on, each page in its own read
    /// transaction, so a long export holds no snapshot and stalls no writer. Parameters that do
    /// not unseal read `<does not decrypt>` (`verify_audit` names those entries).
    pub fn audit_page(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>> {
        let key = self.data_key(&KeyName::audit())?;
        let txn = self.begin_read()?;
        let mut page = Vec::new();
        self.each_audit(&txn, from, |stored| {
            page.push(unseal(stored, &key.seal).0);
            page.len() < limit
        })?;
        Ok(page)
    }

    /// Calls `f` on each stored entry from sequence `from` on while it returns true.
    fn each_audit(
        &self,
        txn: &redb::ReadTransaction,
        from: u64,
        mut f: impl FnMut(StoredAudit) -> bool,
    ) -> Result<()> {
        let Some(t) = self.read_table(txn, AUDIT)? else {
            return Ok(());
        };
        for row in t.range(from..).map_err(|e| self.db_err(e))? {
            let (k, v) = row.map_err(|e| self.db_err(e))?;
            let stored: StoredAudit = serde_json::from_slice(v.value())
                .map_err(|e| self.malformed(format!("audit entry at key {}", k.value()), e))?;
            if !f(stored) {
                break;
            }
        }
        Ok(())
    }

    fn audit_floor(&self, txn: &redb::ReadTransaction) -> Result<Option<(u64, String)>> {
        let Some(meta) = self.read_table(txn, META)? else {
            return Ok(None);
        };
        let floor = meta.get(META_AUDIT_FLOOR).map_err(|e| self.db_err(e))?;
        Ok(floor.and_then(|g| serde_json::from_slice(g.value()).ok()))
    }

    /// A table in a read transaction; `None` if nothing was ever written to it.
    fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &redb::ReadTransaction,
        def: redb::TableDefinition<K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
        match txn.open_table(def) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.db_err(e)),
        }
    }

    fn malformed(&self, what: String, e: impl std::fmt::Display) -> StoreError {
        StoreError::Malformed {
            agency: self.agency().into(),
            what,
            reason: e.to_string(),
        }
    }

    /// Verifies the live audit chain against the appliance key.
    pub fn verify_audit(&self) -> Result<VerifyReport> {
        let log = self.audit_log()?;
        let mut report = verify_chain(
            &log.records,
            &log.checkpoints,
            log.floor.clone(),
            Some(&self.signer.verifying_key()),
        );
        for (pos, r) in log.records.iter().enumerate() {
            if log.unsealable.contains(&r.body.seq) {
                let p = crate::audit::Problem::Altered {
                    seq: r.body.seq,
                    position: pos,
                };
                if !report.problems.contains(&p) {
                    report.problems.push(p);
                }
            }
        }
        Ok(report)
    }

    pub(crate) fn check_not_decommissioned(&self) -> Result<()> {
        if self
            .decommission
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Err(StoreError::Decommissioned(self.agency().into()));
        }
        Ok(())
    }

    fn load_days_and_vocab(&self) -> Result<()> {
        let txn = self.begin_read()?;
        let names: Vec<String> = txn
            .list_tables()
            .map_err(|e| self.db_err(e))?
            .map(|h| redb::TableHandle::name(&h).to_owned())
            .collect();
        drop(txn);
        let days = schema::days_with(names.iter().cloned(), "reads/");
        let vocab_days = schema::days_with(names.into_iter(), "vocab/");
        let mut vocab = Vocab::default();
        for day in vocab_days {
            let key = match self.data_key(&KeyName::day(day)) {
                Ok(k) => k,
                Err(StoreError::KeyDestroyed { .. }) => continue, // purged; tables left by a crash
                Err(e) => return Err(e),
            };
            vocab.load_day(self, day, &key)?;
        }
        *self.vocab.write().unwrap_or_else(|p| p.into_inner()) = vocab;
        *self.days.write().unwrap_or_else(|p| p.into_inner()) = days.into_iter().collect();
        Ok(())
    }

    /// Bytes the database file takes on disk.
    pub fn file_bytes(&self) -> Result<u64> {
        fs::metadata(&self.db_path)
            .map(|m| m.len())
            .map_err(crate::error::io_err(&self.db_path))
    }
}

/// The audit log read back from the store.
#[derive(Clone, Debug)]
pub struct AuditLog {
    pub records: Vec<AuditRecord>,
    pub checkpoints: Vec<Checkpoint>,
    pub floor: Option<(u64, String)>,
    pub unsealable: Vec<u64>,
}

pub(crate) fn db_error(agency: &str, path: &std::path::Path, e: redb::Error) -> StoreError {
    if let Some(io) = redb_disk_full(&e) {
        return StoreError::DiskFull {
            agency: agency.into(),
            path: path.to_owned(),
            source: io,
        };
    }
    StoreError::Db {
        agency: agency.into(),
        path: path.to_owned(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::Access;

    #[test]
    fn reading_the_audit_log_waits_for_no_writer() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let store =
            Arc::new(AgencyStore::create(&layout, "north", StoreOptions::default()).unwrap());
        let who = Access::new("auditor", "oversight");
        store
            .audit(who.event("audit.read", "north", "{}".into()))
            .unwrap();
        let entries = store.audit_log().unwrap().records.len();
        // A writer mid-transaction (as ingest is, most of the time).
        let writer = store.begin_write().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = store.clone();
        std::thread::spawn(move || {
            let _ = tx.send(reader.audit_log().map(|l| l.records.len()));
            let _ = tx.send(reader.audit_page(0, 10).map(|p| p.len()));
        });
        let log = rx.recv_timeout(Duration::from_secs(10));
        let page = rx.recv_timeout(Duration::from_secs(10));
        drop(writer);
        assert_eq!(
            log.expect("audit_log waited for the writer").unwrap(),
            entries
        );
        assert_eq!(
            page.expect("audit_page waited for the writer").unwrap(),
            entries
        );
    }
}
