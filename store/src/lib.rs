//! The per-agency store: one redb file per agency, envelope encryption, blind indexes, retention
//! and legal holds, the tamper-evident audit chain, export and wipe. Built by the store issue.
