//! The agency master key, behind a small trait so a TPM or KMS can hold it later: the store only
//! ever asks it to wrap and unwrap data keys.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::seal::{NonceSource, SealKey};
use crate::error::{Result, StoreError};

/// Wraps and unwraps data keys under a master key the caller never sees.
pub trait KeyProvider: Send + Sync {
    /// Seals `key`; `context` is bound to the result (agency and key name).
    fn wrap(&self, key: &[u8], context: &[u8]) -> Result<Vec<u8>>;
    /// Opens what `wrap` produced with the same `context`.
    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// Where the master key lives, for messages (never the key itself).
    fn describe(&self) -> String;
}

/// A master key in a 0600 file of 32 random bytes.
pub struct FileKeyProvider {
    path: PathBuf,
    key: SealKey,
    nonces: NonceSource,
}

/// Creates a new master key file (refusing to overwrite one), readable by its owner only.
pub fn create_key_file(path: &Path) -> Result<()> {
    let bad = |reason: String| StoreError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    let key: Zeroizing<[u8; 32]> =
        Zeroizing::new(super::random_bytes().map_err(|e| bad(format!("no randomness: {e}")))?);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| bad(format!("cannot create: {e}")))?;
    f.write_all(&key[..])
        .and_then(|()| f.sync_all())
        .map_err(|e| bad(format!("cannot write: {e}")))?;
    Ok(())
}

impl FileKeyProvider {
    /// Opens a key file, refusing one that group or others can read or that is the wrong size.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |reason: String| StoreError::KeyFile {
            path: path.to_owned(),
            reason,
        };
        let meta = fs::metadata(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "permissions are {mode:o}; the master key must be readable by its owner only \
                 (chmod 600)"
            )));
        }
        let bytes = Zeroizing::new(fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?);
        let key: &[u8; 32] = bytes[..]
            .try_into()
            .map_err(|_| bad(format!("holds {} bytes; a master key is 32", bytes.len())))?;
        Ok(Self {
            path: path.to_owned(),
            key: SealKey::new(key),
            nonces: NonceSource::new().map_err(|e| bad(format!("no randomness: {e}")))?,
        })
    }
}

impl KeyProvider for FileKeyProvider {
    fn wrap(&self, key: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        Ok(self.key.seal(&self.nonces, key, context))
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.key
            .open(wrapped, context)
            .map(Zeroizing::new)
            .ok_or_else(|| StoreError::KeyFile {
                path: self.path.clone(),
                reason: format!(
                    "does not unwrap {}: wrong master key or altered keyring",
                    String::from_utf8_lossy(context)
                ),
            })
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_0600_and_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create_key_file(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let p = FileKeyProvider::open(&path).unwrap();
        let w = p.wrap(b"data key", b"ctx").unwrap();
        assert_eq!(&p.unwrap(&w, b"ctx").unwrap()[..], b"data key");
        assert!(p.unwrap(&w, b"other").is_err());
        assert!(create_key_file(&path).is_err(), "must not overwrite a key");
    }

    #[test]
    fn refuses_world_readable_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create_key_file(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = FileKeyProvider::open(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
