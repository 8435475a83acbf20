//! The store's one error type. Each variant names what is wrong and where (file, agency, entry).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("agency {agency}: database {path}: {source}")]
    Db {
        agency: String,
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error(
        "agency {agency}: the disk holding {path} is full; the last batch was not committed \
         (everything acknowledged before it is intact): {source}"
    )]
    DiskFull {
        agency: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("agency id {0:?} is invalid: 1-64 characters of A-Z a-z 0-9 - _ are allowed")]
    BadAgencyId(String),
    #[error("agency {0} does not exist (no directory {1})")]
    NoSuchAgency(String, PathBuf),
    #[error("agency {0} already exists at {1}")]
    AgencyExists(String, PathBuf),
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("keyring {path}: {reason}")]
    Keyring { path: PathBuf, reason: String },
    #[error("agency {agency}: key {key} is not in the keyring (destroyed by a purge or wipe)")]
    KeyDestroyed { agency: String, key: String },
    #[error("agency {agency}: {what} failed to decrypt (wrong key or altered data)")]
    Decrypt { agency: String, what: String },
    #[error("agency {agency}: record {what} is malformed: {reason}")]
    Malformed {
        agency: String,
        what: String,
        reason: String,
    },
    #[error(
        "agency {agency}: database schema version {found} is newer than this build understands \
         (up to {supported})"
    )]
    SchemaTooNew {
        agency: String,
        found: u32,
        supported: u32,
    },
    #[error("retention policy is invalid: {0}")]
    BadPolicy(String),
    #[error("invalid input: {0}")]
    BadInput(String),
    #[error("agency {agency}: legal hold {hold} does not exist")]
    NoSuchHold { agency: String, hold: u64 },
    #[error("agency {agency}: read {read} does not exist")]
    NoSuchRead { agency: String, read: u64 },
    #[error("appliance signing key {path}: {reason}")]
    SigningKey { path: PathBuf, reason: String },
    #[error("export {path}: {reason}")]
    Export { path: PathBuf, reason: String },
    #[error("agency {0} is scheduled for wiping; it accepts no new data")]
    Decommissioned(String),
    #[error("agency {0} has been wiped")]
    Wiped(String),
    #[error(
        "agency {agency} has {reads} reads under legal hold; release the holds (or cancel the \
         decommission) before it can be wiped"
    )]
    UnderLegalHold { agency: String, reads: u64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// True when an I/O error means the filesystem has no space left.
pub(crate) fn is_disk_full(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::StorageFull || err.raw_os_error() == Some(libc::ENOSPC)
}

/// Finds an ENOSPC buried in a redb error, so a full disk is reported as such.
pub(crate) fn redb_disk_full(err: &redb::Error) -> Option<std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && is_disk_full(io)
        {
            return Some(std::io::Error::new(io.kind(), io.to_string()));
        }
        if let Some(redb::StorageError::Io(io)) = e.downcast_ref::<redb::StorageError>()
            && is_disk_full(io)
        {
            return Some(std::io::Error::new(io.kind(), io.to_string()));
        }
        cur = e.source();
    }
    // redb sometimes flattens the io error into its message.
    let text = err.to_string();
    if text.contains("No space left") || text.contains("os error 28") {
        return Some(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    None
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}
