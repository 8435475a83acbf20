//! Export bundle (no lock-in): reads as JSON Lines, decrypted, with crops as files; hits,
//! hotlists, holds, sharing grants, legal requests; the audit log and its checkpoints; and a
//! manifest with the SHA-256 of every file, signed by the appliance key.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, Verifier, VerifyingKey};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::agency::{Access, AgencyStore};
use crate::appliance::make_private_dir;
use crate::audit::checkpoint::parse_public_key;
use crate::audit::{AuditRecord, Checkpoint, VerifyReport, verify_chain};
use crate::error::{Result, StoreError, io_err};
use crate::model::ReadId;
use crate::records::{LegalRequest, RecordKind, SharingGrant};
use crate::schema::{HELD_READS, reads_table};

pub const FORMAT: &str = "custos-export/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub agency: String,
    pub created_at_ms: u64,
    pub appliance_public_key: String,
    pub reads: u64,
    pub audit_entries: u64,
    pub audit_floor: Option<(u64, String)>,
    pub files: Vec<ManifestFile>,
}

#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    pub reads: u64,
    pub crops: u64,
    pub audit_entries: u64,
    pub files: usize,
}

#[derive(Clone, Debug, Default)]
pub struct ExportVerifyReport {
    pub agency: String,
    pub files: usize,
    pub public_key: String,
    /// File and signature problems, each naming the file.
    pub problems: Vec<String>,
    pub audit: VerifyReport,
}

impl ExportVerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.audit.ok()
    }
}

fn export_err(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Export {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

struct Writer {
    root: PathBuf,
}

impl Writer {
    /// A new file only the appliance's user can read (0600): the bundle holds every read.
    fn create(&self, rel: &str) -> Result<BufWriter<File>> {
        let p = self.root.join(rel);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
            .map(BufWriter::new)
            .map_err(io_err(p))
    }
    fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let mut f = self.create(rel)?;
        f.write_all(bytes)
            .and_then(|()| f.flush())
            .map_err(io_err(self.root.join(rel)))
    }
    fn json<T: Serialize>(&self, rel: &str, v: &T) -> Result<()> {
        let mut f = self.create(rel)?;
        serde_json::to_writer_pretty(&mut f, v)
            .map_err(|e| export_err(&self.root, e.to_string()))?;
        f.flush().map_err(io_err(self.root.join(rel)))
    }
}

fn jsonl<T: Serialize>(w: &mut impl Write, v: &T, path: &Path) -> Result<()> {
    serde_json::to_writer(&mut *w, v).map_err(|e| export_err(path, e.to_string()))?;
    w.write_all(b"\n").map_err(io_err(path))
}

impl AgencyStore {
    /// Writes the bundle to `out` (which must not exist or be empty). `progress` shows a bar on
    /// a terminal.
    pub fn export(&self, access: &Access, out: &Path, progress: bool) -> Result<ExportSummary> {
        if out.exists() && fs::read_dir(out).map_err(io_err(out))?.next().is_some() {
            return Err(export_err(out, "the output directory is not empty"));
        }
        make_private_dir(&out.join("crops"))?;
        // An empty directory given by the caller keeps its mode otherwise.
        fs::set_permissions(out, fs::Permissions::from_mode(0o700)).map_err(io_err(out))?;
        // Recorded first, so the bundle's audit log includes its own export.
        self.audit(access.event(
            "agency.export",
            self.agency(),
            serde_json::json!({"out": out.display().to_string()}).to_string(),
        ))?;
        self.checkpoint_now()?;
        let w = Writer {
            root: out.to_owned(),
        };
        let mut summary = ExportSummary::default();

        let days: Vec<u32> = self
            .days
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        let total = self.count_reads()?;
        let bar = if progress {
            indicatif::ProgressBar::new(total)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} reads ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("exporting {}", self.agency()));
        let reads_path = out.join("reads.jsonl");
        let mut reads = w.create("reads.jsonl")?;
        let txn = self.begin_read()?;
        let mut write_read = |id: ReadId, bytes: &[u8], held: bool| -> Result<()> {
            let r = self.decrypt(id, bytes, held)?;
            let mut line = serde_json::to_value(&r).map_err(|e| export_err(out, e.to_string()))?;
            if let Some(crop) = &r.crop_jpeg {
                let rel = format!("crops/{}.jpg", id.0);
                w.write(&rel, crop)?;
                line["crop"] = serde_json::Value::String(rel);
                summary.crops += 1;
            }
            jsonl(&mut reads, &line, &reads_path)?;
            summary.reads += 1;
            bar.inc(1);
            Ok(())
        };
        for day in days {
            let name = reads_table(day);
            let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(self.db_err(e)),
            };
            for row in t.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = row.map_err(|e| self.db_err(e))?;
                write_read(ReadId(k.value()), v.value(), false)?;
            }
        }
        match txn.open_table(HELD_READS) {
            Ok(t) => {
                for row in t.iter().map_err(|e| self.db_err(e))? {
                    let (k, v) = row.map_err(|e| self.db_err(e))?;
                    write_read(ReadId(k.value()), v.value(), true)?;
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.db_err(e)),
        }
        drop(txn);
        reads.flush().map_err(io_err(&reads_path))?;
        drop(reads);
        bar.finish_and_clear();

        let hits_path = out.join("hits.jsonl");
        let mut hits = w.create("hits.jsonl")?;
        for (id, h) in self.hits(0, u64::MAX / 2)? {
            jsonl(
                &mut hits,
                &serde_json::json!({"id": id, "hit": h}),
                &hits_path,
            )?;
        }
        hits.flush().map_err(io_err(&hits_path))?;
        drop(hits);
        w.json("hotlists.json", &self.hotlists()?.into_iter().map(|(id, l, e)| {
            serde_json::json!({"id": id, "hotlist": l, "entries": e.into_iter().map(|(eid, e)| serde_json::json!({"id": eid, "entry": e})).collect::<Vec<_>>()})
        }).collect::<Vec<_>>())?;
        w.json("holds.json", &self.holds()?)?;
        w.json(
            "sharing_grants.json",
            &self.list_records::<SharingGrant>(RecordKind::SharingGrant)?,
        )?;
        w.json(
            "legal_requests.json",
            &self.list_records::<LegalRequest>(RecordKind::LegalRequest)?,
        )?;
        w.json("retention_policy.json", &self.policy()?)?;

        let log = self.audit_log()?;
        let audit_path = out.join("audit.jsonl");
        let mut audit = w.create("audit.jsonl")?;
        for r in &log.records {
            jsonl(&mut audit, r, &audit_path)?;
        }
        audit.flush().map_err(io_err(&audit_path))?;
        drop(audit);
        let cp_path = out.join("audit_checkpoints.jsonl");
        let mut cps = w.create("audit_checkpoints.jsonl")?;
        for c in &log.checkpoints {
            jsonl(&mut cps, c, &cp_path)?;
        }
        cps.flush().map_err(io_err(&cp_path))?;
        drop(cps);
        summary.audit_entries = log.records.len() as u64;

        let files = hash_tree(out)?;
        summary.files = files.len();
        let manifest = Manifest {
            format: FORMAT.into(),
            agency: self.agency().into(),
            created_at_ms: self.now_ms(),
            appliance_public_key: hex::encode(self.signer.verifying_key().to_bytes()),
            reads: summary.reads,
            audit_entries: summary.audit_entries,
            audit_floor: log.floor,
            files,
        };
        let bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| export_err(out, e.to_string()))?;
        w.write("manifest.json", &bytes)?;
        let sig = self.signer.sign(&bytes);
        w.write("manifest.sig", hex::encode(sig.to_bytes()).as_bytes())?;
        tracing::info!(
            agency = self.agency(),
            reads = summary.reads,
            "export written"
        );
        Ok(summary)
    }
}

/// SHA-256 of every file under `root` except the manifest and its signature, sorted by path.
fn hash_tree(root: &Path) -> Result<Vec<ManifestFile>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let p = e.map_err(io_err(&dir))?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(root)
                .map_err(|_| export_err(&p, "outside the bundle"))?
                .to_string_lossy()
                .into_owned();
            if rel == "manifest.json" || rel == "manifest.sig" {
                continue;
            }
            let data = fs::read(&p).map_err(io_err(&p))?;
            out.push(ManifestFile {
                path: rel,
                sha256: hex::encode(Sha256::digest(&data)),
                bytes: data.len() as u64,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads an exported audit log and its checkpoints.
pub fn read_export_audit(dir: &Path) -> Result<(Vec<AuditRecord>, Vec<Checkpoint>)> {
    fn lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| export_err(path, format!("line {}: {e}", i + 1)))
            })
            .collect()
    }
    Ok((
        lines(&dir.join("audit.jsonl"))?,
        lines(&dir.join("audit_checkpoints.jsonl"))?,
    ))
}

/// Checks a bundle: the manifest signature (under `trusted`, or the key it names), every file's
/// hash, no unlisted files, and the audit chain.
pub fn verify_export(dir: &Path, trusted: Option<&VerifyingKey>) -> Result<ExportVerifyReport> {
    let mpath = dir.join("manifest.json");
    let bytes = fs::read(&mpath).map_err(io_err(&mpath))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| export_err(&mpath, e.to_string()))?;
    let mut report = ExportVerifyReport {
        agency: manifest.agency.clone(),
        files: manifest.files.len(),
        public_key: manifest.appliance_public_key.clone(),
        ..Default::default()
    };
    // A bundle names its own key; only a key the agency kept from provisioning proves where
    // the bundle came from (a forger re-signs with a key of their own and names that).
    if let Some(t) = trusted
        && parse_public_key(&manifest.appliance_public_key) != Some(*t)
    {
        report.problems.push(format!(
            "manifest.json: names appliance key {}, not the pinned key {}",
            manifest.appliance_public_key,
            hex::encode(t.to_bytes())
        ));
    }
    let key = trusted
        .copied()
        .or_else(|| parse_public_key(&manifest.appliance_public_key));
    let sig = fs::read_to_string(dir.join("manifest.sig"))
        .ok()
        .and_then(|s| hex::decode(s.trim()).ok())
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b));
    match (key, sig) {
        (Some(k), Some(s)) if k.verify(&bytes, &s).is_ok() => {}
        _ => report
            .problems
            .push("manifest.json: signature does not verify".into()),
    }
    let actual: BTreeMap<String, ManifestFile> = hash_tree(dir)?
        .into_iter()
        .map(|f| (f.path.clone(), f))
        .collect();
    for f in &manifest.files {
        match actual.get(&f.path) {
            None => report.problems.push(format!("{}: missing", f.path)),
            Some(a) if a.sha256 != f.sha256 => report.problems.push(format!(
                "{}: SHA-256 differs from the manifest (altered)",
                f.path
            )),
            Some(_) => {}
        }
    }
    for p in actual.keys() {
        if !manifest.files.iter().any(|f| &f.path == p) {
            report
                .problems
                .push(format!("{p}: not in the manifest (added after export)"));
        }
    }
    let (records, checkpoints) = read_export_audit(dir)?;
    report.audit = verify_chain(
        &records,
        &checkpoints,
        manifest.audit_floor.clone(),
        key.as_ref(),
    );
    Ok(report)
}
