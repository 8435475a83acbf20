//! Principals and policies: what the API layer needs to decide who may do what: login secrets (argon2id hash, TOTP secret,
//! lockout state), the camera registry, the agency's search purposes, and counts for the
//! transparency report. Hashing and code checking live in `custos-grpc`; the store keeps the
//! records sealed like every other record.

use redb::{ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::agency::{Access, AgencyStore};
use crate::error::{Result, StoreError};
use crate::records::{Principal, RecordKind};
use crate::schema::{META, RECORDS, hits_table, reads_table};

const META_PURPOSES: &str = "purpose_policy";
const META_ROLES: &str = "role_policy";

/// Role name → permission names.
pub type RolePolicy = std::collections::BTreeMap<String, Vec<String>>;

/// A principal's login factors and lockout state. Sealed at rest under the records key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginSecrets {
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Raw TOTP secret (20 bytes for SHA-1 TOTP).
    pub totp_secret: Vec<u8>,
    /// The last TOTP time step accepted: a code for it or an earlier step is a replay.
    pub totp_last_step: u64,
    /// Consecutive failed logins.
    pub failed_attempts: u32,
    /// No login is tried before this time (ms since the epoch).
    pub locked_until_ms: u64,
    /// The password is a one-time enrolment code: a session may do nothing but replace it
    /// (`Auth.ChangePassword`). Absent in records written before it existed: false.
    #[serde(default)]
    pub must_change_password: bool,
}

/// A camera in the agency's registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    pub id: String,
    pub name: String,
    pub url: String,
    pub enabled: bool,
}

/// A purpose a search may be made for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Purpose {
    pub name: String,
    pub case_required: bool,
}

/// The purposes the agency allows searches for, and those it refuses outright.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PurposePolicy {
    pub allowed: Vec<Purpose>,
    pub prohibited: Vec<String>,
}

impl Default for PurposePolicy {
    fn default() -> Self {
        let p = |name: &str, case_required| Purpose {
            name: name.into(),
            case_required,
        };
        Self {
            allowed: vec![
                p("criminal_investigation", true),
                p("missing_person", false),
                p("stolen_vehicle", false),
                p("hotlist_followup", false),
            ],
            prohibited: vec![
                "immigration_enforcement".into(),
                "protected_activity_monitoring".into(),
                "personal_use".into(),
            ],
        }
    }
}

/// Why a stated purpose is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PurposeRefusal {
    Missing,
    Prohibited(String),
    Unknown(String),
    CaseRequired(String),
}

impl PurposePolicy {
    pub fn validate(&self) -> Result<()> {
        for p in &self.allowed {
            if p.name.trim().is_empty() {
                return Err(StoreError::BadInput("a purpose needs a name".into()));
            }
            if self.prohibited.contains(&p.name) {
                return Err(StoreError::BadInput(format!(
                    "purpose {:?} is both allowed and prohibited",
                    p.name
                )));
            }
        }
        Ok(())
    }

    /// Checks a stated reason and case number against the policy.
    pub fn check(&self, reason: &str, case_number: Option<&str>) -> Result<(), PurposeRefusal> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(PurposeRefusal::Missing);
        }
        if self.prohibited.iter().any(|p| p == reason) {
            return Err(PurposeRefusal::Prohibited(reason.into()));
        }
        let Some(p) = self.allowed.iter().find(|p| p.name == reason) else {
            return Err(PurposeRefusal::Unknown(reason.into()));
        };
        if p.case_required && case_number.is_none_or(|c| c.trim().is_empty()) {
            return Err(PurposeRefusal::CaseRequired(reason.into()));
        }
        Ok(())
    }
}

impl AgencyStore {
    /// A principal by name.
    pub fn find_principal(&self, name: &str) -> Result<Option<(u64, Principal)>> {
        Ok(self
            .list_records::<Principal>(RecordKind::Principal)?
            .into_iter()
            .find(|(_, p)| p.name == name))
    }

    /// Holds one principal's login secrets for a read-verify-write (a login, a password or
    /// TOTP change). Without it two parallel logins both read the old state: one TOTP step
    /// opens several sessions, failed attempts overwrite each other and never lock, and a
    /// stale write undoes a password change. Lock first, then read the secrets.
    pub fn lock_login(&self, principal_id: u64) -> std::sync::MutexGuard<'_, ()> {
        self.login_locks.lock(principal_id)
    }

    pub fn login_secrets(&self, principal_id: u64) -> Result<Option<LoginSecrets>> {
        self.get_record(RecordKind::LoginSecrets, principal_id)
    }

    /// Sets a principal's credentials (enrolment, password or TOTP change): audited.
    pub fn set_login_secrets(
        &self,
        access: &Access,
        principal_id: u64,
        secrets: &LoginSecrets,
    ) -> Result<()> {
        self.put_record(
            access,
            RecordKind::LoginSecrets,
            Some(principal_id),
            secrets,
        )
        .map(|_| ())
    }

    /// Updates the lockout counters and last TOTP step after a login attempt. Not audited by
    /// itself: the caller (the gRPC layer) records the attempt, with its outcome, in the same
    /// log; one entry per attempt rather than two.
    pub fn update_login_state(&self, principal_id: u64, secrets: &LoginSecrets) -> Result<()> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        self.put_record_in(&txn, RecordKind::LoginSecrets, principal_id, secrets)?;
        self.commit(txn)
    }

    /// Deletes a record, audited. Returns false when there was none.
    pub fn delete_record(&self, access: &Access, kind: RecordKind, id: u64) -> Result<bool> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let existed = txn
            .open_table(RECORDS)
            .map_err(redb::Error::from)
            .and_then(|mut t| {
                t.remove((kind.as_str(), id))
                    .map(|v| v.is_some())
                    .map_err(redb::Error::from)
            })
            .map_err(|e| self.db_err(e))?;
        let mut ev = access.event(
            &format!("{}.delete", kind.as_str()),
            &format!("{}/{id}", kind.as_str()),
            "{}".into(),
        );
        ev.result_count = u64::from(existed);
        self.audit_in(&txn, &ev)?;
        self.commit(txn)?;
        Ok(existed)
    }

    /// A JSON setting from the meta table.
    fn meta_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>> {
        let txn = self.begin_read()?;
        let t = txn.open_table(META).map_err(|e| self.db_err(e))?;
        match t.get(key).map_err(|e| self.db_err(e))? {
            Some(v) => {
                serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| StoreError::Malformed {
                        agency: self.agency().into(),
                        what: what.into(),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// Stores a JSON setting in the meta table, audited with `action` (the value as parameters).
    fn set_meta_json<T: Serialize>(
        &self,
        access: &Access,
        key: &str,
        action: &str,
        value: &T,
    ) -> Result<()> {
        let json = serde_json::to_vec(value).map_err(|e| StoreError::BadInput(e.to_string()))?;
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        txn.open_table(META)
            .map_err(redb::Error::from)
            .and_then(|mut t| {
                t.insert(key, json.as_slice())
                    .map(|_| ())
                    .map_err(redb::Error::from)
            })
            .map_err(|e| self.db_err(e))?;
        let params = String::from_utf8_lossy(&json).into_owned();
        self.audit_in(&txn, &access.event(action, "policy", params))?;
        self.commit(txn)
    }

    pub fn purpose_policy(&self) -> Result<PurposePolicy> {
        Ok(self
            .meta_json(META_PURPOSES, "purpose policy")?
            .unwrap_or_default())
    }

    pub fn set_purpose_policy(&self, access: &Access, policy: &PurposePolicy) -> Result<()> {
        policy.validate()?;
        self.set_meta_json(access, META_PURPOSES, "purposes.set", policy)
    }

    /// The agency's role → permissions overrides (role name → permission names), if it has
    /// any. Their meaning (and validation) belongs to the API layer.
    pub fn role_policy(&self) -> Result<Option<RolePolicy>> {
        self.meta_json(META_ROLES, "role policy")
    }

    pub fn set_role_policy(&self, access: &Access, policy: &RolePolicy) -> Result<()> {
        self.set_meta_json(access, META_ROLES, "roles.set", policy)
    }

    /// (day, reads, hits) for the days in [from_day, to_day] that have data: transparency
    /// report counts, taken from table sizes without decrypting anything.
    pub fn counts_per_day(&self, from_day: u32, to_day: u32) -> Result<Vec<(u32, u64, u64)>> {
        let txn = self.begin_read()?;
        let mut out = Vec::new();
        let len = |name: String| -> Result<u64> {
            match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                Ok(t) => t.len().map_err(|e| self.db_err(e)),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
                Err(e) => Err(self.db_err(e)),
            }
        };
        let names: Vec<String> = txn
            .list_tables()
            .map_err(|e| self.db_err(e))?
            .map(|h| redb::TableHandle::name(&h).to_owned())
            .collect();
        let mut days = crate::schema::days_with(names.iter().cloned(), "reads/");
        days.extend(crate::schema::days_with(names.into_iter(), "hits/"));
        days.sort_unstable();
        days.dedup();
        for day in days.into_iter().filter(|d| (from_day..=to_day).contains(d)) {
            out.push((day, len(reads_table(day))?, len(hits_table(day))?));
        }
        Ok(out)
    }
}

/// Striped locks for [`AgencyStore::lock_login`]: a fixed set, so memory does not grow with
/// the principals; two principals sharing a stripe only wait for each other.
pub(crate) struct LoginLocks([std::sync::Mutex<()>; 64]);

impl Default for LoginLocks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| std::sync::Mutex::new(())))
    }
}

impl LoginLocks {
    fn lock(&self, principal_id: u64) -> std::sync::MutexGuard<'_, ()> {
        let stripe = &self.0[(principal_id % self.0.len() as u64) as usize];
        // The guarded data is (); a panic while held leaves nothing inconsistent.
        stripe.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes() {
        let p = PurposePolicy::default();
        assert_eq!(p.check("", None), Err(PurposeRefusal::Missing));
        assert_eq!(
            p.check("immigration_enforcement", Some("C1")),
            Err(PurposeRefusal::Prohibited("immigration_enforcement".into()))
        );
        assert_eq!(
            p.check("curiosity", None),
            Err(PurposeRefusal::Unknown("curiosity".into()))
        );
        assert_eq!(
            p.check("criminal_investigation", Some(" ")),
            Err(PurposeRefusal::CaseRequired(
                "criminal_investigation".into()
            ))
        );
        assert_eq!(p.check("criminal_investigation", Some("2026-123")), Ok(()));
        assert_eq!(p.check("stolen_vehicle", None), Ok(()));
        let mut bad = p.clone();
        bad.prohibited.push("stolen_vehicle".into());
        assert!(bad.validate().is_err());
    }
}
