//! The state every call shares: the agencies' stores, sessions, the live hub, the audit
//! writers, the role tables and the appliance log's rate limit. The server builds it once; the
//! gate and the services only read it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use custos_live::Hub;
use custos_store::{AgencyStore, Clock, Layout};
use ed25519_dalek::SigningKey;

use crate::audit_writer::AuditWriter;
use crate::auth::Sessions;
use crate::policy::RoleTable;

/// State every call shares.
pub(crate) struct Shared {
    pub agencies: HashMap<String, Arc<AgencyStore>>,
    pub sessions: Sessions,
    pub hub: Hub,
    pub insecure_dev: bool,
    pub max_request_bytes: usize,
    pub layout: Layout,
    pub clock: Arc<dyn Clock>,
    pub signer: SigningKey,
    pub appliance_log: Mutex<Budget>,
    /// Each agency's audit writer (group commit).
    pub audit: HashMap<String, AuditWriter>,
    /// Each agency's role table, loaded from its store on first use.
    pub roles: RwLock<HashMap<String, Arc<RoleTable>>>,
    /// Bounds the password checks running at once (`AuthConfig::max_password_checks`).
    pub password_checks: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// A place for one password check, or RESOURCE_EXHAUSTED when all are taken. Move the
    /// permit into the blocking task that hashes, so it is held until the hashing ends even if
    /// the caller gives up.
    pub fn password_check_permit(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, tonic::Status> {
        self.password_checks
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                tonic::Status::resource_exhausted("too many logins in progress; retry in a moment")
            })
    }

    /// The agency's roles → permissions (its overrides on the defaults).
    pub fn role_table(&self, store: &AgencyStore) -> custos_store::Result<Arc<RoleTable>> {
        if let Some(t) = self.cached_role_table(store.agency()) {
            return Ok(t);
        }
        let table = match store.role_policy()? {
            // Validated when it was set; a table that no longer validates falls back to the
            // defaults rather than granting anything unexpected.
            Some(o) => RoleTable::with_overrides(&o).unwrap_or_else(|e| {
                tracing::error!(agency = store.agency(), error = %e, "stored role policy invalid; using defaults");
                RoleTable::default()
            }),
            None => RoleTable::default(),
        };
        let table = Arc::new(table);
        self.roles
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(store.agency().to_owned(), table.clone());
        Ok(table)
    }

    /// The role table if already loaded (no store access: safe on async threads).
    pub fn cached_role_table(&self, agency: &str) -> Option<Arc<RoleTable>> {
        self.roles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(agency)
            .cloned()
    }

    pub fn set_role_table(&self, agency: &str, table: RoleTable) {
        self.roles
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(agency.to_owned(), Arc::new(table));
    }

    /// Appends to the appliance-level log: refusals that name no agency (no certificate, an
    /// unknown agency, a failed TLS handshake).
    ///
    /// Anyone who can reach the port can cause these, so they are rate-limited: beyond
    /// [`Budget::PER_WINDOW`] entries per window the rest are counted, and the count is written
    /// as one `grpc.refusals_suppressed` entry when the next window opens.
    pub fn appliance_audit(&self, action: &str, details: &str) -> custos_store::Result<()> {
        let mut budget = self.appliance_log.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now_ms();
        let append = |action: &str, details: String| {
            custos_store::appliance::append_appliance_log(
                &self.layout,
                &self.signer,
                now,
                action,
                "-",
                details,
            )
            .map(|_| ())
        };
        match budget.take(now) {
            Admit::No => Ok(()),
            Admit::Yes { suppressed } => {
                if suppressed > 0 {
                    append(
                        "grpc.refusals_suppressed",
                        serde_json::json!({ "count": suppressed }).to_string(),
                    )?;
                }
                append(action, details.to_owned())
            }
        }
    }
}

/// The appliance log's rate limit (one writer at a time holds it).
#[derive(Default)]
pub(crate) struct Budget {
    window_start_ms: u64,
    used: u32,
    suppressed: u64,
}

#[derive(Debug, PartialEq)]
enum Admit {
    No,
    /// Write, after an entry for the `suppressed` ones not written before.
    Yes {
        suppressed: u64,
    },
}

impl Budget {
    const WINDOW_MS: u64 = 10_000;
    const PER_WINDOW: u32 = 20;

    fn take(&mut self, now: u64) -> Admit {
        if now.saturating_sub(self.window_start_ms) >= Self::WINDOW_MS {
            self.window_start_ms = now;
            self.used = 0;
        }
        if self.used >= Self::PER_WINDOW {
            self.suppressed += 1;
            return Admit::No;
        }
        self.used += 1;
        Admit::Yes {
            suppressed: std::mem::take(&mut self.suppressed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appliance_log_budget() {
        let mut b = Budget::default();
        let t = 1_000_000;
        for _ in 0..Budget::PER_WINDOW {
            assert_eq!(b.take(t), Admit::Yes { suppressed: 0 });
        }
        assert_eq!(b.take(t + 1), Admit::No);
        assert_eq!(b.take(t + 2), Admit::No);
        assert_eq!(b.take(t + Budget::WINDOW_MS), Admit::Yes { suppressed: 2 });
        assert_eq!(b.take(t + Budget::WINDOW_MS), Admit::Yes { suppressed: 0 });
    }
}
