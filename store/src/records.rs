//! Long-lived records: hotlists and entries (covert flag), hits, legal holds, sharing grants,
//! legal requests (court orders, subpoenas; notification status), principals and credentials.
//! Each is sealed at rest (they name plates, cases and people); hits under a per-day hit key.

use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::agency::{Access, AgencyStore};
use crate::clock::day_of;
use crate::crypto::KeyName;
use crate::error::{Result, StoreError};
use crate::model::ReadId;
use crate::schema::{self, META_NEXT_ID, META_RETRO_SEARCHED, RECORDS, hits_table};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Hotlist,
    HotlistEntry,
    Hold,
    SharingGrant,
    LegalRequest,
    Principal,
    Credential,
    /// Password hash, TOTP secret and login state of a principal (id = the principal's id).
    LoginSecrets,
    Camera,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Hotlist => "hotlist",
            RecordKind::HotlistEntry => "hotlist_entry",
            RecordKind::Hold => "hold",
            RecordKind::SharingGrant => "sharing_grant",
            RecordKind::LegalRequest => "legal_request",
            RecordKind::Principal => "principal",
            RecordKind::Credential => "credential",
            RecordKind::LoginSecrets => "login_secrets",
            RecordKind::Camera => "camera",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hotlist {
    pub name: String,
    pub description: String,
    /// Covert lists are not shown to operators without the covert permission (enforced by grpc).
    pub covert: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotlistEntry {
    pub hotlist_id: u64,
    /// Normalised plate.
    pub plate: String,
    pub note: String,
    pub covert: bool,
    pub expires_at_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub read_id: ReadId,
    pub hotlist_id: u64,
    pub entry_id: u64,
    pub plate: String,
    pub camera: String,
    pub captured_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharingGrant {
    pub to_agency: String,
    /// What is shared: "hits" (reads that hit a hotlist) or "cameras" (reads of `cameras`).
    pub scope: String,
    #[serde(default)]
    pub cameras: Vec<String>,
    /// Only data captured in [from, to]; 0 and u64::MAX when unbounded.
    #[serde(default)]
    pub window_from_ms: u64,
    #[serde(default = "unbounded")]
    pub window_to_ms: u64,
    pub granted_by: String,
    pub granted_at_ms: u64,
    pub expires_at_ms: Option<u64>,
    pub revoked_at_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalRequestKind {
    CourtOrder,
    Subpoena,
    Warrant,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum NotificationStatus {
    NotRequired,
    Pending,
    /// Notification delayed by the court until this time.
    Delayed {
        until_ms: u64,
    },
    Notified {
        at_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegalRequest {
    pub kind: LegalRequestKind,
    pub reference: String,
    pub issuing_authority: String,
    pub case_number: Option<String>,
    pub received_at_ms: u64,
    pub scope: String,
    pub notification: NotificationStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub role: String,
    pub disabled: bool,
}

/// An API token credential; only its SHA-256 is stored (tokens are 256-bit random, so a fast hash
/// is enough: there is nothing to brute-force).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub principal_id: u64,
    pub token_sha256: String,
    pub created_at_ms: u64,
    pub revoked: bool,
}

fn unbounded() -> u64 {
    u64::MAX
}

/// A hotlist's id, the list, and its entries with their ids.
pub type HotlistWithEntries = (u64, Hotlist, Vec<(u64, HotlistEntry)>);

fn record_aad(agency: &str, kind: &str, id: u64) -> Vec<u8> {
    format!("custos-record/v1|{agency}|{kind}|{id}").into_bytes()
}

fn hit_aad(agency: &str, day: u32, id: u64) -> Vec<u8> {
    format!("custos-hit/v1|{agency}|{day}|{id}").into_bytes()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

impl AgencyStore {
    pub(crate) fn next_id_in(&self, txn: &redb::WriteTransaction) -> Result<u64> {
        let id = schema::read_u64(txn, META_NEXT_ID)
            .map_err(|e| self.db_err(e))?
            .unwrap_or(1);
        schema::write_u64(txn, META_NEXT_ID, id + 1).map_err(|e| self.db_err(e))?;
        Ok(id)
    }

    pub(crate) fn put_record_in<T: Serialize>(
        &self,
        txn: &redb::WriteTransaction,
        kind: RecordKind,
        id: u64,
        value: &T,
    ) -> Result<()> {
        let key = self.data_key(&KeyName::records())?;
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| StoreError::BadInput(e.to_string()))?,
        );
        let sealed = key.seal.seal(
            &self.nonces,
            &json,
            &record_aad(self.agency(), kind.as_str(), id),
        );
        txn.open_table(RECORDS)
            .map_err(redb::Error::from)
            .and_then(|mut t| {
                t.insert((kind.as_str(), id), sealed.as_slice())
                    .map(|_| ())
                    .map_err(redb::Error::from)
            })
            .map_err(|e| self.db_err(e))
    }

    fn open_record<T: DeserializeOwned>(
        &self,
        kind: RecordKind,
        id: u64,
        sealed: &[u8],
    ) -> Result<T> {
        let key = self.data_key(&KeyName::records())?;
        let what = format!("{} {id}", kind.as_str());
        let plain = key
            .seal
            .open(sealed, &record_aad(self.agency(), kind.as_str(), id))
            .ok_or_else(|| StoreError::Decrypt {
                agency: self.agency().into(),
                what: what.clone(),
            })?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Malformed {
            agency: self.agency().into(),
            what,
            reason: e.to_string(),
        })
    }

    /// Creates (`id` None) or replaces a record, audited.
    pub fn put_record<T: Serialize>(
        &self,
        access: &Access,
        kind: RecordKind,
        id: Option<u64>,
        value: &T,
    ) -> Result<u64> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let id = match id {
            Some(id) => id,
            None => self.next_id_in(&txn)?,
        };
        self.put_record_in(&txn, kind, id, value)?;
        let mut ev = access.event(
            &format!("{}.put", kind.as_str()),
            &format!("{}/{id}", kind.as_str()),
            "{}".into(),
        );
        ev.result_count = 1;
        self.audit_in(&txn, &ev)?;
        self.commit(txn)?;
        Ok(id)
    }

    pub fn get_record<T: DeserializeOwned>(&self, kind: RecordKind, id: u64) -> Result<Option<T>> {
        let txn = self.begin_read()?;
        let t = match txn.open_table(RECORDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.db_err(e)),
        };
        let v = t.get((kind.as_str(), id)).map_err(|e| self.db_err(e))?;
        match v {
            Some(v) => Ok(Some(self.open_record(kind, id, v.value())?)),
            None => Ok(None),
        }
    }

    pub fn list_records<T: DeserializeOwned>(&self, kind: RecordKind) -> Result<Vec<(u64, T)>> {
        let txn = self.begin_read()?;
        let t = match txn.open_table(RECORDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.db_err(e)),
        };
        let mut out = Vec::new();
        for row in t
            .range((kind.as_str(), 0)..=(kind.as_str(), u64::MAX))
            .map_err(|e| self.db_err(e))?
        {
            let (k, v) = row.map_err(|e| self.db_err(e))?;
            let id = k.value().1;
            out.push((id, self.open_record(kind, id, v.value())?));
        }
        Ok(out)
    }

    pub fn create_hotlist(&self, access: &Access, list: &Hotlist) -> Result<u64> {
        self.put_record(access, RecordKind::Hotlist, None, list)
    }

    pub fn add_hotlist_entry(&self, access: &Access, entry: &HotlistEntry) -> Result<u64> {
        let mut e = entry.clone();
        e.plate = custos_core::normalize_plate(&e.plate);
        self.put_record(access, RecordKind::HotlistEntry, None, &e)
    }

    /// The highest hotlist entry id whose retroactive search is done (`None` until first set):
    /// the live matcher's writer keeps it, so that entries added while it was not running are
    /// searched when it starts, and none twice.
    pub fn retro_searched_through(&self) -> Result<Option<u64>> {
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let v = schema::read_u64(&txn, META_RETRO_SEARCHED).map_err(|e| self.db_err(e))?;
        txn.abort().map_err(|e| self.db_err(e))?;
        Ok(v)
    }

    pub fn set_retro_searched_through(&self, entry_id: u64) -> Result<()> {
        self.check_not_decommissioned()?;
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        schema::write_u64(&txn, META_RETRO_SEARCHED, entry_id).map_err(|e| self.db_err(e))?;
        self.commit(txn)
    }

    /// Hotlists with their entries.
    pub fn hotlists(&self) -> Result<Vec<HotlistWithEntries>> {
        let entries: Vec<(u64, HotlistEntry)> = self.list_records(RecordKind::HotlistEntry)?;
        Ok(self
            .list_records::<Hotlist>(RecordKind::Hotlist)?
            .into_iter()
            .map(|(id, l)| {
                let mine = entries
                    .iter()
                    .filter(|(_, e)| e.hotlist_id == id)
                    .cloned()
                    .collect();
                (id, l, mine)
            })
            .collect())
    }

    /// Records a hit (sealed under its day's hit key; kept M days).
    pub fn record_hit(&self, hit: &Hit) -> Result<u64> {
        self.check_not_decommissioned()?;
        let day = day_of(hit.captured_at_ms);
        self.ensure_keys(&[KeyName::hit_day(day)])?;
        let key = self.data_key(&KeyName::hit_day(day))?;
        let _w = self.write_guard();
        let txn = self.begin_write()?;
        let id = self.next_id_in(&txn)?;
        let json = serde_json::to_vec(hit).map_err(|e| StoreError::BadInput(e.to_string()))?;
        let sealed = key
            .seal
            .seal(&self.nonces, &json, &hit_aad(self.agency(), day, id));
        let name = hits_table(day);
        txn.open_table(TableDefinition::<u64, &[u8]>::new(&name))
            .map_err(redb::Error::from)
            .and_then(|mut t| {
                t.insert(id, sealed.as_slice())
                    .map(|_| ())
                    .map_err(redb::Error::from)
            })
            .map_err(|e| self.db_err(e))?;
        self.commit(txn)?;
        Ok(id)
    }

    /// Hits captured in [from, to].
    pub fn hits(&self, from_ms: u64, to_ms: u64) -> Result<Vec<(u64, Hit)>> {
        let txn = self.begin_read()?;
        let mut out = Vec::new();
        let names = txn
            .list_tables()
            .map_err(|e| self.db_err(e))?
            .map(|h| redb::TableHandle::name(&h).to_owned());
        let (d0, d1) = (day_of(from_ms), day_of(to_ms));
        let days: Vec<u32> = schema::days_with(names, "hits/")
            .into_iter()
            .filter(|d| (d0..=d1).contains(d))
            .collect();
        for day in days {
            let name = hits_table(day);
            let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(self.db_err(e)),
            };
            let key = self.data_key(&KeyName::hit_day(day))?;
            for row in t.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = row.map_err(|e| self.db_err(e))?;
                let id = k.value();
                let plain = key
                    .seal
                    .open(v.value(), &hit_aad(self.agency(), day, id))
                    .ok_or_else(|| StoreError::Decrypt {
                        agency: self.agency().into(),
                        what: format!("hit {id}"),
                    })?;
                let hit: Hit =
                    serde_json::from_slice(&plain).map_err(|e| StoreError::Malformed {
                        agency: self.agency().into(),
                        what: format!("hit {id}"),
                        reason: e.to_string(),
                    })?;
                if (from_ms..=to_ms).contains(&hit.captured_at_ms) {
                    out.push((id, hit));
                }
            }
        }
        Ok(out)
    }

    pub fn grant_sharing(&self, access: &Access, grant: &SharingGrant) -> Result<u64> {
        self.put_record(access, RecordKind::SharingGrant, None, grant)
    }

    pub fn register_legal_request(&self, access: &Access, req: &LegalRequest) -> Result<u64> {
        self.put_record(access, RecordKind::LegalRequest, None, req)
    }

    pub fn set_notification(
        &self,
        access: &Access,
        request_id: u64,
        status: NotificationStatus,
    ) -> Result<()> {
        let mut req: LegalRequest = self
            .get_record(RecordKind::LegalRequest, request_id)?
            .ok_or_else(|| StoreError::BadInput(format!("no legal request {request_id}")))?;
        req.notification = status;
        self.put_record(access, RecordKind::LegalRequest, Some(request_id), &req)?;
        Ok(())
    }

    pub fn add_principal(&self, access: &Access, p: &Principal) -> Result<u64> {
        self.put_record(access, RecordKind::Principal, None, p)
    }

    /// Stores a credential for `principal_id` from a token the caller generated and handed out.
    pub fn add_credential(&self, access: &Access, principal_id: u64, token: &str) -> Result<u64> {
        let c = Credential {
            principal_id,
            token_sha256: sha256_hex(token.as_bytes()),
            created_at_ms: self.now_ms(),
            revoked: false,
        };
        self.put_record(access, RecordKind::Credential, None, &c)
    }

    /// The principal a token belongs to, if it is known and not revoked.
    pub fn authenticate(&self, token: &str) -> Result<Option<(u64, Principal)>> {
        let h = sha256_hex(token.as_bytes());
        let Some((_, c)) = self
            .list_records::<Credential>(RecordKind::Credential)?
            .into_iter()
            .find(|(_, c)| c.token_sha256 == h && !c.revoked)
        else {
            return Ok(None);
        };
        Ok(self
            .get_record::<Principal>(RecordKind::Principal, c.principal_id)?
            .filter(|p| !p.disabled)
            .map(|p| (c.principal_id, p)))
    }
}
