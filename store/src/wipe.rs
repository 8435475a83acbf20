//! Decommissioning: an agency is scheduled for wiping after a grace period (default 90 days, time
//! to export); then its database, keyring and master key are deleted and a signed wipe certificate
//! goes into the appliance audit log.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::agency::{Access, AgencyStore};
use crate::appliance::{Layout, append_appliance_log, signing_key};
use crate::clock::{Clock, MS_PER_DAY};
use crate::error::{Result, StoreError, io_err};

pub const DEFAULT_GRACE_DAYS: u32 = 90;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decommission {
    pub agency: String,
    pub scheduled_at_ms: u64,
    pub wipe_after_ms: u64,
    pub scheduled_by: String,
    pub reason: String,
}

impl Decommission {
    pub(crate) fn load(layout: &Layout, agency: &str) -> Result<Option<Self>> {
        let path = layout.decommission_path(agency);
        if !path.exists() {
            return Ok(None);
        }
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Malformed {
                agency: agency.into(),
                what: path.display().to_string(),
                reason: e.to_string(),
            })
    }
}

/// The signed statement that an agency's data is gone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WipeCertificate {
    pub agency: String,
    pub scheduled_at_ms: u64,
    pub wiped_at_ms: u64,
    /// Files deleted, with their sizes.
    pub files: Vec<(String, u64)>,
    /// The last audit hash of the agency's log before deletion.
    pub audit_head: Option<String>,
    pub method: String,
    pub public_key: String,
    pub signature: String,
}

impl WipeCertificate {
    fn message(&self) -> Vec<u8> {
        format!(
            "custos-wipe/v1|{}|{}|{}|{:?}|{:?}|{}",
            self.agency,
            self.scheduled_at_ms,
            self.wiped_at_ms,
            self.files,
            self.audit_head,
            self.method
        )
        .into_bytes()
    }

    pub fn verify(&self) -> bool {
        use ed25519_dalek::Verifier;
        let Some(key) = crate::audit::checkpoint::parse_public_key(&self.public_key) else {
            return false;
        };
        let Some(sig) = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        else {
            return false;
        };
        key.verify(&self.message(), &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}

impl AgencyStore {
    /// Schedules this agency for wiping `grace_days` from now; it accepts no new data after this.
    pub fn decommission(&self, access: &Access, grace_days: u32) -> Result<Decommission> {
        self.refuse_if_held()?;
        let now = self.now_ms();
        let d = Decommission {
            agency: self.agency().into(),
            scheduled_at_ms: now,
            wipe_after_ms: now + grace_days as u64 * MS_PER_DAY,
            scheduled_by: access.principal.clone(),
            reason: access.reason.clone(),
        };
        let path = self.layout.decommission_path(self.agency());
        let json =
            serde_json::to_vec_pretty(&d).map_err(|e| StoreError::BadInput(e.to_string()))?;
        write_atomically(&path, &json)?;
        let mut ev = access.event(
            "agency.decommission",
            self.agency(),
            format!(
                "{{\"grace_days\":{grace_days},\"wipe_after_ms\":{}}}",
                d.wipe_after_ms
            ),
        );
        ev.result_count = 1;
        *self.decommission.lock().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
        self.audit(ev)?;
        Ok(d)
    }

    /// Cancels a scheduled wipe (within the grace period).
    pub fn cancel_decommission(&self, access: &Access) -> Result<()> {
        {
            // Under the lock a scheduled wipe ([`wipe_if_due`](Self::wipe_if_due)) decides by.
            let mut d = self.decommission.lock().unwrap_or_else(|p| p.into_inner());
            let path = self.layout.decommission_path(self.agency());
            if path.exists() {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
            *d = None;
        }
        self.audit(access.event("agency.decommission_cancel", self.agency(), "{}".into()))?;
        Ok(())
    }

    /// Wipes this agency if it is decommissioned and its grace period has ended at the store
    /// clock's now, while it is open (the running server's schedule). The database is closed and
    /// every key and the plaintext vocabulary are dropped from memory first, so this handle and
    /// every clone of its `Arc` answer [`StoreError::Wiped`] from then on; then the files go as
    /// with [`run_due_wipes`]. Returns the certificate (also in the appliance log), or `None`
    /// when no wipe is due.
    pub fn wipe_if_due(&self) -> Result<Option<WipeCertificate>> {
        // Writer first, as every write does: none is in flight while the database closes.
        let _w = self.write_guard();
        let guard = self.decommission.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.now_ms();
        let d = match &*guard {
            Some(d) if d.wipe_after_ms <= now => d.clone(),
            _ => return Ok(None),
        };
        if !self.db_is_closed() {
            // A hold placed during the grace period outranks the schedule.
            self.refuse_if_held()?;
        }
        let audit_head = if self.db_is_closed() {
            // Closed by an earlier run whose file deletion failed: finish it, if files remain.
            if !self.layout.agency_dir(self.agency()).exists() {
                return Ok(None);
            }
            None
        } else {
            let head = self.audit_head();
            self.close_for_wipe();
            head
        };
        // `decommission` stays set: ingest keeps answering `Decommissioned`.
        wipe_files(&self.layout, self.agency(), &d, now, audit_head).map(Some)
    }

    /// Legal holds outrank decommissioning: an agency with held reads is neither scheduled
    /// for wiping nor wiped.
    fn refuse_if_held(&self) -> Result<()> {
        use redb::ReadableTableMetadata;
        let txn = self.begin_read()?;
        let reads = match txn.open_table(crate::schema::READ_HOLDS) {
            Ok(t) => t.len().map_err(|e| self.db_err(e))?,
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(self.db_err(e)),
        };
        if reads > 0 {
            return Err(StoreError::UnderLegalHold {
                agency: self.agency().into(),
                reads,
            });
        }
        Ok(())
    }

    /// The last audit hash (best effort, as in [`last_audit_hash`]).
    fn audit_head(&self) -> Option<String> {
        use redb::ReadableTable;
        let txn = self.begin_read().ok()?;
        let t = txn.open_table(crate::schema::AUDIT).ok()?;
        let (_, v) = t.last().ok()??;
        let e: crate::audit::chain::StoredAudit = serde_json::from_slice(v.value()).ok()?;
        Some(e.hash)
    }
}

/// Overwrites a small secret file before unlinking it (best effort on flash; the keys are what
/// matter and they never left these files).
fn shred(path: &Path) -> Result<u64> {
    let len = fs::metadata(path).map(|m| m.len()).map_err(io_err(path))?;
    if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
        let _ = f
            .write_all(&vec![0u8; len as usize])
            .and_then(|()| f.sync_all());
    }
    fs::remove_file(path).map_err(io_err(path))?;
    Ok(len)
}

/// Wipes every agency whose grace period has passed (the agency must not be open). Returns the
/// certificates, each also appended to the appliance audit log.
pub fn run_due_wipes(layout: &Layout, clock: &dyn Clock) -> Result<Vec<WipeCertificate>> {
    let dir = layout.agencies_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let now = clock.now_ms();
    let mut certs = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let agency = entry.file_name().to_string_lossy().into_owned();
        let Some(d) = Decommission::load(layout, &agency)? else {
            continue;
        };
        if d.wipe_after_ms > now {
            continue;
        }
        let held = held_reads(layout, &agency)?;
        if held > 0 {
            // The other agencies' wipes still go ahead; this one waits for its holds.
            let e = StoreError::UnderLegalHold {
                agency: agency.clone(),
                reads: held,
            };
            tracing::warn!(agency, error = %e, "wipe refused");
            append_appliance_log(
                layout,
                &signing_key(layout)?,
                now,
                "agency.wipe_refused",
                &agency,
                serde_json::json!({ "reason": e.to_string() }).to_string(),
            )?;
            continue;
        }
        let audit_head = last_audit_hash(layout, &agency);
        certs.push(wipe_files(layout, &agency, &d, now, audit_head)?);
    }
    Ok(certs)
}

/// Deletes an agency's files (keys first, shredded) and appends the signed certificate to the
/// appliance log. The agency must not be open, or must have been closed by
/// [`AgencyStore::wipe_if_due`].
fn wipe_files(
    layout: &Layout,
    agency: &str,
    d: &Decommission,
    now: u64,
    audit_head: Option<String>,
) -> Result<WipeCertificate> {
    let key = signing_key(layout)?;
    let adir = layout.agency_dir(agency);
    let mut files = Vec::new();
    // Keys first: once they are gone the rest is ciphertext.
    for p in [layout.key_path(agency), layout.keyring_path(agency)] {
        if p.exists() {
            files.push((p.display().to_string(), shred(&p)?));
        }
    }
    for e in fs::read_dir(&adir)
        .map_err(io_err(&adir))?
        .filter_map(|e| e.ok())
    {
        let p = e.path();
        let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        if p.is_dir() {
            fs::remove_dir_all(&p).map_err(io_err(&p))?;
        } else {
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
        files.push((p.display().to_string(), len));
    }
    fs::remove_dir(&adir).map_err(io_err(&adir))?;
    let mut cert = WipeCertificate {
        agency: agency.to_owned(),
        scheduled_at_ms: d.scheduled_at_ms,
        wiped_at_ms: now,
        files,
        audit_head,
        method: "master key and keyring overwritten and deleted (crypto-shredding), \
                 database and all other files deleted"
            .into(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        signature: String::new(),
    };
    cert.signature = hex::encode(key.sign(&cert.message()).to_bytes());
    let details = serde_json::to_string(&cert).map_err(|e| StoreError::BadInput(e.to_string()))?;
    append_appliance_log(layout, &key, now, "agency.wipe", agency, details)?;
    tracing::info!(agency, "agency wiped");
    Ok(cert)
}

/// Reads under legal hold in an agency that is not open. A database that cannot be read counts
/// as held: nothing is deleted that might be evidence.
fn held_reads(layout: &Layout, agency: &str) -> Result<u64> {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let path = layout.db_path(agency);
    if !path.exists() {
        return Ok(0);
    }
    let unreadable = |e: String| StoreError::Malformed {
        agency: agency.into(),
        what: path.display().to_string(),
        reason: format!("cannot check legal holds before wiping: {e}"),
    };
    let db = redb::Database::open(&path).map_err(|e| unreadable(e.to_string()))?;
    let txn = db.begin_read().map_err(|e| unreadable(e.to_string()))?;
    match txn.open_table(crate::schema::READ_HOLDS) {
        Ok(t) => t.len().map_err(|e| unreadable(e.to_string())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Writes a file so that a crash leaves either the old contents or the new, never a torn one:
/// a temporary file, synced, renamed over, then the directory synced.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

/// The agency's last audit hash, read before deletion (best effort: the certificate still
/// stands without it).
fn last_audit_hash(layout: &Layout, agency: &str) -> Option<String> {
    use redb::{ReadableDatabase, ReadableTable};
    let db = redb::Database::open(layout.db_path(agency)).ok()?;
    let txn = db.begin_read().ok()?;
    let t = txn.open_table(crate::schema::AUDIT).ok()?;
    let (_, v) = t.last().ok()??;
    let e: crate::audit::chain::StoredAudit = serde_json::from_slice(v.value()).ok()?;
    Some(e.hash)
}
