//! The appliance: its Ed25519 signing key (checkpoints, manifests, wipe certificates) and its own
//! audit log, which outlives any agency (wipe certificates go there).

use std::fs::{self, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::checkpoint::parse_public_key;
use crate::error::{Result, StoreError, io_err};

/// Where everything lives under the data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    pub data_dir: PathBuf,
}

impl Layout {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
        }
    }
    pub fn agencies_dir(&self) -> PathBuf {
        self.data_dir.join("agencies")
    }
    pub fn agency_dir(&self, agency: &str) -> PathBuf {
        self.agencies_dir().join(agency)
    }
    pub fn db_path(&self, agency: &str) -> PathBuf {
        self.agency_dir(agency).join("store.redb")
    }
    pub fn key_path(&self, agency: &str) -> PathBuf {
        self.agency_dir(agency).join("master.key")
    }
    pub fn keyring_path(&self, agency: &str) -> PathBuf {
        self.agency_dir(agency).join("keyring.json")
    }
    pub fn decommission_path(&self, agency: &str) -> PathBuf {
        self.agency_dir(agency).join("decommission.json")
    }
    pub fn appliance_dir(&self) -> PathBuf {
        self.data_dir.join("appliance")
    }
    pub fn signing_key_path(&self) -> PathBuf {
        self.appliance_dir().join("signing.key")
    }
    pub fn appliance_log_path(&self) -> PathBuf {
        self.appliance_dir().join("audit.jsonl")
    }
}

pub(crate) fn make_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err(path))
}

/// Loads the appliance signing key, creating it (0600) on first use.
pub fn signing_key(layout: &Layout) -> Result<SigningKey> {
    let path = layout.signing_key_path();
    let bad = |reason: String| StoreError::SigningKey {
        path: path.clone(),
        reason,
    };
    if !path.exists() {
        make_private_dir(&layout.appliance_dir())?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            crate::crypto::random_bytes().map_err(|e| bad(format!("no randomness: {e}")))?,
        );
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| bad(format!("cannot create: {e}")))?;
        f.write_all(&seed[..])
            .and_then(|()| f.sync_all())
            .map_err(|e| bad(format!("cannot write: {e}")))?;
    }
    let meta = fs::metadata(&path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(bad("readable by group or others; chmod 600".into()));
    }
    let bytes = Zeroizing::new(fs::read(&path).map_err(|e| bad(format!("cannot read: {e}")))?);
    let seed: [u8; 32] = bytes[..]
        .try_into()
        .map_err(|_| bad(format!("holds {} bytes; expected 32", bytes.len())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// One line of the appliance audit log (hash-chained, each line signed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplianceLogEntry {
    pub seq: u64,
    pub time_ms: u64,
    pub action: String,
    pub agency: String,
    /// JSON text (a wipe certificate, for example).
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    pub public_key: String,
    pub signature: String,
}

fn entry_hash(e: &ApplianceLogEntry) -> String {
    use sha2::Digest;
    let body = format!(
        "custos-appliance-log/v1|{}|{}|{}|{}|{}|{}",
        e.seq, e.time_ms, e.action, e.agency, e.details, e.prev_hash
    );
    hex::encode(sha2::Sha256::digest(body.as_bytes()))
}

pub fn read_appliance_log(layout: &Layout) -> Result<Vec<ApplianceLogEntry>> {
    let path = layout.appliance_log_path();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let f = fs::File::open(&path).map_err(io_err(&path))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io_err(&path))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|e| StoreError::Malformed {
                agency: "appliance".into(),
                what: format!("{} line {}", path.display(), i + 1),
                reason: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// Appends a signed, chained entry and fsyncs it.
pub fn append_appliance_log(
    layout: &Layout,
    key: &SigningKey,
    time_ms: u64,
    action: &str,
    agency: &str,
    details: String,
) -> Result<ApplianceLogEntry> {
    make_private_dir(&layout.appliance_dir())?;
    let path = layout.appliance_log_path();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(&path))?;
    // Each entry chains to the last one: appenders (the gRPC layer, a scheduled wipe, the CLI)
    // take turns, or two could claim the same sequence number. Released when `f` closes.
    f.lock().map_err(io_err(&path))?;
    let existing = read_appliance_log(layout)?;
    let (seq, prev_hash) = existing
        .last()
        .map_or((0, crate::audit::GENESIS_HASH.to_owned()), |e| {
            (e.seq + 1, e.hash.clone())
        });
    let mut e = ApplianceLogEntry {
        seq,
        time_ms,
        action: action.into(),
        agency: agency.into(),
        details,
        prev_hash,
        hash: String::new(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        signature: String::new(),
    };
    e.hash = entry_hash(&e);
    e.signature = hex::encode(key.sign(e.hash.as_bytes()).to_bytes());
    let mut line = serde_json::to_vec(&e).map_err(|err| StoreError::BadInput(err.to_string()))?;
    line.push(b'\n');
    f.write_all(&line)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&path))?;
    Ok(e)
}

/// Verifies the appliance log's chain and signatures; returns the problems, naming lines.
pub fn verify_appliance_log(
    layout: &Layout,
    trusted: Option<&VerifyingKey>,
) -> Result<Vec<String>> {
    use ed25519_dalek::Verifier;
    let mut problems = Vec::new();
    let mut prev = crate::audit::GENESIS_HASH.to_owned();
    for (i, e) in read_appliance_log(layout)?.iter().enumerate() {
        if e.seq != i as u64 {
            problems.push(format!(
                "line {}: sequence {} where {i} was expected",
                i + 1,
                e.seq
            ));
        }
        if e.prev_hash != prev {
            problems.push(format!("line {}: does not link to the line before", i + 1));
        }
        if entry_hash(e) != e.hash {
            problems.push(format!("line {}: altered (hash mismatch)", i + 1));
        }
        let key = trusted.copied().or_else(|| parse_public_key(&e.public_key));
        let sig = hex::decode(&e.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b));
        let ok =
            matches!((key, sig), (Some(k), Some(s)) if k.verify(e.hash.as_bytes(), &s).is_ok());
        if !ok {
            problems.push(format!("line {}: signature does not verify", i + 1));
        }
        prev = e.hash.clone();
    }
    Ok(problems)
}
