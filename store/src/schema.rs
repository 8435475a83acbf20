//! Table layout and schema versions. Reads, their blind index, vocabulary and hits live in one
//! table per UTC day, so purging a day is dropping its tables. Upgrades are numbered steps, each
//! run in the transaction that bumps the version.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::model::RetentionPolicy;

/// Schema written by this build.
pub const CURRENT_VERSION: u32 = 3;

/// Small settings: schema version, next read sequence, policy, audit floor.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Audit entries by sequence (JSON, parameters sealed).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Signed checkpoints by the sequence they cover (JSON).
pub const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_checkpoints");
/// Reads pinned by a legal hold, re-sealed under the hold's key (read id → stored read).
pub const HELD_READS: TableDefinition<u64, &[u8]> = TableDefinition::new("held_reads");
/// (read id, hold id) for every hold naming a read.
pub const READ_HOLDS: TableDefinition<(u64, u64), ()> = TableDefinition::new("read_holds");
/// Long-lived records by (kind, id), sealed under the records key.
pub const RECORDS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("records");

pub const META_VERSION: &str = "schema_version";
pub const META_NEXT_READ: &str = "next_read_seq";
pub const META_POLICY: &str = "retention_policy";
pub const META_AUDIT_FLOOR: &str = "audit_floor";
pub const META_NEXT_ID: &str = "next_record_id";
pub const META_HIT_ONLY_CURSOR: &str = "hit_only_cursor";
pub const META_RETRO_SEARCHED: &str = "retro_searched_through";

pub fn reads_table(day: u32) -> String {
    format!("reads/{day}")
}
pub fn index_table(day: u32) -> String {
    format!("plate_idx/{day}")
}
pub fn vocab_table(day: u32) -> String {
    format!("vocab/{day}")
}
pub fn hits_table(day: u32) -> String {
    format!("hits/{day}")
}

/// Days that have a table with this prefix (e.g. "reads/").
pub fn days_with(names: impl Iterator<Item = String>, prefix: &str) -> Vec<u32> {
    let mut days: Vec<u32> = names
        .filter_map(|n| n.strip_prefix(prefix).and_then(|d| d.parse().ok()))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

pub fn read_u64(txn: &WriteTransaction, key: &str) -> Result<Option<u64>, redb::Error> {
    let t = txn.open_table(META)?;
    let v = t.get(key)?;
    Ok(v.and_then(|g| g.value().try_into().ok().map(u64::from_le_bytes)))
}

pub fn write_u64(txn: &WriteTransaction, key: &str, v: u64) -> Result<(), redb::Error> {
    txn.open_table(META)?.insert(key, &v.to_le_bytes()[..])?;
    Ok(())
}

/// The stored schema version (0 for a file with no meta table: a fresh database).
pub fn version_of(db: &redb::Database) -> Result<u32, redb::Error> {
    let txn = db.begin_read()?;
    let t = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    Ok(t.get(META_VERSION)?
        .and_then(|g| g.value().try_into().ok().map(u32::from_le_bytes))
        .unwrap_or(0))
}

type Step = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// Upgrade steps: `STEPS[i]` takes a version-`i+1` file to version `i+2`.
const STEPS: &[Step] = &[upgrade_1_to_2, upgrade_2_to_3];

/// Version 1 kept the retention periods as two little-endian day counts under "reads_days" and
/// "hits_days"; version 2 keeps the whole policy as JSON (it grew hit-only mode and audit days).
fn upgrade_1_to_2(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut meta = txn.open_table(META)?;
    let get = |t: &redb::Table<&str, &[u8]>, k: &str| -> Result<Option<u64>, redb::Error> {
        Ok(t.get(k)?
            .and_then(|g| g.value().try_into().ok().map(u64::from_le_bytes)))
    };
    let mut policy = RetentionPolicy::default();
    if let Some(d) = get(&meta, "reads_days")? {
        policy.reads_days = d as u32;
    }
    if let Some(d) = get(&meta, "hits_days")? {
        policy.hits_days = d as u32;
    }
    let json = serde_json::to_vec(&policy).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    meta.insert(META_POLICY, json.as_slice())?;
    meta.remove("reads_days")?;
    meta.remove("hits_days")?;
    Ok(())
}

/// The blind-index tables of every day (`plate_idx/N`).
fn index_tables(txn: &WriteTransaction) -> Result<Vec<String>, redb::Error> {
    Ok(txn
        .list_tables()?
        .map(|h| redb::TableHandle::name(&h).to_owned())
        .filter(|n| n.starts_with("plate_idx/"))
        .collect())
}

/// Rewrites one index table's keys through `f` (sorted inserts into a fresh table).
fn rewrite_index(
    txn: &WriteTransaction,
    name: &str,
    f: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<(), redb::Error> {
    let def = TableDefinition::<&[u8], ()>::new(name);
    let mut keys: Vec<Vec<u8>> = {
        let t = txn.open_table(def)?;
        t.iter()?
            .map(|r| r.map(|(k, _)| f(k.value())))
            .collect::<Result<_, _>>()?
    };
    keys.sort_unstable();
    txn.delete_table(def)?;
    let mut t = txn.open_table(def)?;
    for k in &keys {
        t.insert(k.as_slice(), ())?;
    }
    Ok(())
}

/// Version 2 keyed the blind index `token | time | id`; version 3 puts the 8-hour block of the day
/// first (`block | token | time | id`, see `model::index_key`) so ingest appends instead of touching the
/// whole day's B-tree. The time is in the key, so this is a key rewrite: nothing is decrypted.
fn upgrade_2_to_3(txn: &WriteTransaction) -> Result<(), redb::Error> {
    for name in index_tables(txn)? {
        rewrite_index(txn, &name, |k| {
            // Any other length is not a version-2 key: kept as it is.
            if k.len() != 32 {
                return k.to_vec();
            }
            let time = u64::from_be_bytes(k[16..24].try_into().unwrap_or_default());
            let mut n = Vec::with_capacity(33);
            n.push(crate::model::index_bucket(time));
            n.extend_from_slice(k);
            n
        })?;
    }
    Ok(())
}

/// Rewrites the blind index in its version-2 form (`token | time | id`) and marks the file
/// version 2, as a build of that era left it (for upgrade tests).
#[cfg(feature = "test-support")]
pub fn write_v2_index(db: &redb::Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    for name in index_tables(&txn)? {
        rewrite_index(&txn, &name, |k| k.get(1..).unwrap_or_default().to_vec())?;
    }
    txn.open_table(META)?
        .insert(META_VERSION, &2u32.to_le_bytes()[..])?;
    txn.commit()?;
    Ok(())
}

/// Brings a file from `from` to [`CURRENT_VERSION`], one step per transaction, so a crash
/// mid-upgrade resumes at the step it was on.
pub fn upgrade(db: &redb::Database, from: u32) -> Result<Vec<u32>, redb::Error> {
    let mut applied = Vec::new();
    for v in from.max(1)..CURRENT_VERSION {
        let txn = db.begin_write()?;
        STEPS[(v - 1) as usize](&txn)?;
        txn.open_table(META)?
            .insert(META_VERSION, &(v + 1).to_le_bytes()[..])?;
        txn.commit()?;
        applied.push(v + 1);
    }
    Ok(applied)
}

/// Writes a version-1 file's meta, as a build of that era did (for upgrade tests).
#[cfg(feature = "test-support")]
pub fn write_v1_meta(
    db: &redb::Database,
    reads_days: u64,
    hits_days: u64,
) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(META_VERSION, &1u32.to_le_bytes()[..])?;
        meta.insert("reads_days", &reads_days.to_le_bytes()[..])?;
        meta.insert("hits_days", &hits_days.to_le_bytes()[..])?;
    }
    txn.commit()?;
    Ok(())
}
