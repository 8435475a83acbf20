//! The per-agency store: one redb file per agency, envelope encryption, blind indexes, retention
//! and legal holds, the tamper-evident audit chain, export and wipe.
//!
//! Every call goes through an [`AgencyStore`] opened for exactly one agency. On disk, under the
//! data directory:
//!
//! ```text
//! agencies/<agency>/store.redb      reads (one table per UTC day), blind index, vocabulary, hits,
//!                                   records, audit log, checkpoints — payloads sealed
//! agencies/<agency>/master.key      32 random bytes, 0600 (or a KeyProvider: TPM/KMS)
//! agencies/<agency>/keyring.json    data keys wrapped by the master key; purge rewrites it
//! appliance/signing.key             Ed25519 key: checkpoints, manifests, wipe certificates
//! appliance/audit.jsonl             appliance-level log (wipe certificates)
//! ```
//!
//! Owns: everything on an agency's disk and its cryptography. May not touch: the network, the
//! analysis or the CLI; callers reach it through [`AgencyStore`] with an [`Access`].

pub mod agency;
pub mod appliance;
pub mod audit;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod export;
pub mod holds;
pub mod model;
pub mod principals;
pub mod reads;
pub mod records;
pub mod retention;
pub mod schema;
pub mod search;
pub mod vocab;
pub mod wipe;

pub use agency::{Access, AgencyId, AgencyStore, AuditLog, StoreOptions};
pub use appliance::Layout;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, StoreError};
pub use export::{ExportSummary, ExportVerifyReport, verify_export};
pub use holds::LegalHold;
pub use model::{HIT, NewRead, PlateCandidate, Read, ReadId, RetentionPolicy};
pub use principals::{Camera, LoginSecrets, Purpose, PurposePolicy, PurposeRefusal, RolePolicy};
pub use retention::{PurgeReport, RetentionScheduler};
pub use search::{PlateQuery, Search, SearchResult};
pub use wipe::{DEFAULT_GRACE_DAYS, WipeCertificate, run_due_wipes};
