//! The keyring: the agency's data keys, each wrapped by the master key, in a small file beside the
//! database (never inside it). A purge rewrites this file without the purged day's key, so an old
//! copy of the database plus the master key cannot decrypt that day: crypto-shredding.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys::KeyProvider;
use crate::error::{Result, StoreError};

/// The name of a data key in the keyring.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName(pub String);

impl KeyName {
    /// Seals the reads of one UTC day and keys their blind index.
    pub fn day(day: u32) -> Self {
        Self(format!("day/{day}"))
    }
    /// Seals the hits of one UTC day (kept longer than reads).
    pub fn hit_day(day: u32) -> Self {
        Self(format!("hitday/{day}"))
    }
    /// Seals the reads pinned by one legal hold.
    pub fn hold(id: u64) -> Self {
        Self(format!("hold/{id}"))
    }
    /// Seals long-lived records (hotlists, holds, grants, legal requests, principals).
    pub fn records() -> Self {
        Self("records".into())
    }
    /// Seals the parameters of audit entries (they may name plates).
    pub fn audit() -> Self {
        Self("audit".into())
    }
    pub fn as_day(&self) -> Option<u32> {
        self.0.strip_prefix("day/")?.parse().ok()
    }
    pub fn as_hit_day(&self) -> Option<u32> {
        self.0.strip_prefix("hitday/")?.parse().ok()
    }
}

impl std::fmt::Display for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize, Deserialize)]
struct KeyringFile {
    version: u32,
    agency: String,
    keys: BTreeMap<String, String>,
}

pub struct Keyring {
    path: PathBuf,
    agency: String,
    wrapped: BTreeMap<KeyName, Vec<u8>>,
    plain: BTreeMap<KeyName, Zeroizing<[u8; 32]>>,
}

impl Keyring {
    fn context(&self, name: &KeyName) -> Vec<u8> {
        format!("custos-keyring/v1|{}|{}", self.agency, name).into_bytes()
    }

    fn err(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Keyring {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Creates an empty keyring file.
    pub fn create(path: &Path, agency: &str) -> Result<Self> {
        let ring = Self {
            path: path.to_owned(),
            agency: agency.to_owned(),
            wrapped: BTreeMap::new(),
            plain: BTreeMap::new(),
        };
        ring.persist()?;
        Ok(ring)
    }

    /// Loads and unwraps every key (a few dozen at most: one per retained day, hold, class).
    pub fn load(path: &Path, agency: &str, provider: &dyn KeyProvider) -> Result<Self> {
        let mut ring = Self {
            path: path.to_owned(),
            agency: agency.to_owned(),
            wrapped: BTreeMap::new(),
            plain: BTreeMap::new(),
        };
        let text = fs::read_to_string(path).map_err(|e| ring.err(format!("cannot read: {e}")))?;
        let file: KeyringFile =
            serde_json::from_str(&text).map_err(|e| ring.err(format!("malformed: {e}")))?;
        if file.agency != agency {
            return Err(ring.err(format!(
                "belongs to agency {:?}, not {agency:?}",
                file.agency
            )));
        }
        for (name, b64) in file.keys {
            let name = KeyName(name);
            let wrapped = B64
                .decode(b64)
                .map_err(|e| ring.err(format!("key {name}: {e}")))?;
            let bytes = provider.unwrap(&wrapped, &ring.context(&name))?;
            let key: [u8; 32] = bytes[..]
                .try_into()
                .map_err(|_| ring.err(format!("key {name} is not 32 bytes")))?;
            ring.plain.insert(name.clone(), Zeroizing::new(key));
            ring.wrapped.insert(name, wrapped);
        }
        Ok(ring)
    }

    pub fn get(&self, name: &KeyName) -> Option<&[u8; 32]> {
        self.plain.get(name).map(|k| &**k)
    }

    pub fn names(&self) -> impl Iterator<Item = &KeyName> {
        self.plain.keys()
    }

    /// Adds a fresh random key unless one exists; returns true if it created one (then the caller
    /// must [`persist`](Self::persist) before committing data sealed with it).
    pub fn ensure(&mut self, name: &KeyName, provider: &dyn KeyProvider) -> Result<bool> {
        if self.plain.contains_key(name) {
            return Ok(false);
        }
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(
            super::random_bytes().map_err(|e| self.err(format!("no randomness: {e}")))?,
        );
        let wrapped = provider.wrap(&key[..], &self.context(name))?;
        self.wrapped.insert(name.clone(), wrapped);
        self.plain.insert(name.clone(), key);
        Ok(true)
    }

    /// Forgets keys (memory and, after [`persist`](Self::persist), disk).
    pub fn destroy(&mut self, names: &[KeyName]) {
        for n in names {
            self.plain.remove(n);
            self.wrapped.remove(n);
        }
    }

    /// Writes the keyring atomically (temp file, fsync, rename, fsync directory), so a crash
    /// leaves either the old or the new keyring, never half of one.
    pub fn persist(&self) -> Result<()> {
        let file = KeyringFile {
            version: 1,
            agency: self.agency.clone(),
            keys: self
                .wrapped
                .iter()
                .map(|(k, v)| (k.0.clone(), B64.encode(v)))
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| self.err(e.to_string()))?;
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| {
            if crate::error::is_disk_full(&e) {
                self.err(format!("disk full, keyring not written: {e}"))
            } else {
                self.err(format!("cannot write: {e}"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{FileKeyProvider, create_key_file};

    #[test]
    fn destroyed_keys_are_gone_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        create_key_file(&dir.path().join("m.key")).unwrap();
        let p = FileKeyProvider::open(&dir.path().join("m.key")).unwrap();
        let path = dir.path().join("keyring.json");
        let mut ring = Keyring::create(&path, "a1").unwrap();
        assert!(ring.ensure(&KeyName::day(5), &p).unwrap());
        assert!(!ring.ensure(&KeyName::day(5), &p).unwrap());
        ring.ensure(&KeyName::day(6), &p).unwrap();
        ring.persist().unwrap();
        let k5 = *ring.get(&KeyName::day(5)).unwrap();
        let again = Keyring::load(&path, "a1", &p).unwrap();
        assert_eq!(again.get(&KeyName::day(5)), Some(&k5));
        ring.destroy(&[KeyName::day(5)]);
        ring.persist().unwrap();
        let again = Keyring::load(&path, "a1", &p).unwrap();
        assert!(again.get(&KeyName::day(5)).is_none());
        assert!(again.get(&KeyName::day(6)).is_some());
        assert!(Keyring::load(&path, "other", &p).is_err());
    }
}
