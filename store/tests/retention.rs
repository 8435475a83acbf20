// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use custos_store::{
    Access, AgencyStore, HIT, Layout, PlateQuery, RetentionPolicy, RetentionScheduler, Search,
    StoreError,
};

fn exact(store: &AgencyStore, plate: &str) -> usize {
    store
        .search(
            &Access::new("t", "t"),
            &Search {
                query: PlateQuery::Exact {
                    plate: plate.into(),
                },
                from_ms: 0,
                to_ms: u64::MAX / 2,
                limit: 1000,
            },
        )
        .unwrap()
        .reads
        .len()
}

#[test]
fn purged_day_is_unrecoverable_from_an_old_copy_of_the_file() {
    let f = fixture();
    let old = f.store.ingest(&[read("OLD1111", T0 + 1000)]).unwrap()[0];
    let new = f.store.ingest(&[read("NEW2222", T0 + 20 * DAY)]).unwrap()[0];
    f.store
        .set_policy(
            &Access::new("admin", "policy"),
            &RetentionPolicy {
                reads_days: 10,
                ..Default::default()
            },
        )
        .unwrap();
    // The attacker's backup, taken before the purge: the database file only.
    let backup = tempfile::tempdir().unwrap();
    std::fs::copy(f.layout.db_path("north"), backup.path().join("store.redb")).unwrap();

    f.clock.set(T0 + 21 * DAY);
    let report = f.store.purge().unwrap();
    assert_eq!(report.days_purged, vec![(T0 / DAY) as u32]);
    assert_eq!(report.reads_deleted, 1);
    assert_eq!(report.keys_destroyed, vec![format!("day/{}", T0 / DAY)]);
    assert_eq!(exact(&f.store, "OLD1111"), 0);
    assert_eq!(exact(&f.store, "NEW2222"), 1);

    // Every purge is audited with its counts.
    let log = f.store.audit_log().unwrap();
    let purge = log
        .records
        .iter()
        .rfind(|r| r.body.action == "retention.purge")
        .unwrap();
    assert_eq!(purge.body.result_count, 1);
    assert!(purge.body.parameters.contains("\"reads_deleted\":1"));

    // Put the old file back beside today's master key and keyring (the attacker has both).
    let who = Access::new("attacker", "backup");
    let copy = tempfile::tempdir().unwrap();
    copy_tree(f.dir.path(), copy.path());
    let copy_layout = Layout::new(copy.path());
    std::fs::copy(
        backup.path().join("store.redb"),
        copy_layout.db_path("north"),
    )
    .unwrap();
    let c = AgencyStore::open(&copy_layout, "north", opts(&f.clock)).unwrap();
    match c.get_read(&who, old) {
        Err(StoreError::KeyDestroyed { key, .. }) => assert_eq!(key, format!("day/{}", T0 / DAY)),
        other => panic!("purged day must not decrypt, got {other:?}"),
    }
    assert!(
        c.get_read(&who, new).unwrap().is_some(),
        "the kept day still decrypts"
    );
    drop(c);

    // Control: with the keyring as it was before the purge, the same file does decrypt — so the
    // check above is the keyring's doing.
    let f2 = fixture();
    let id = f2.store.ingest(&[read("OLD1111", T0 + 1000)]).unwrap()[0];
    assert_eq!(
        f2.store.get_read(&who, id).unwrap().unwrap().plate,
        "OLD1111"
    );
    let ring = std::fs::read_to_string(f.layout.keyring_path("north")).unwrap();
    assert!(!ring.contains(&format!("day/{}", T0 / DAY)));
}

#[test]
fn hit_only_mode_deletes_non_hits_after_k_minutes() {
    let f = fixture();
    let who = Access::new("admin", "state law");
    f.store
        .set_policy(
            &who,
            &RetentionPolicy {
                hit_only_minutes: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
    let mut hit = read("HIT0001", T0);
    hit.hit_flags = HIT;
    f.store
        .ingest(&[read("MISS001", T0), hit, read("MISS002", T0 + 9 * 60_000)])
        .unwrap();
    f.clock.set(T0 + 6 * 60_000);
    let r = f.store.purge().unwrap();
    assert_eq!(r.hit_only_deleted, 1);
    assert_eq!(exact(&f.store, "MISS001"), 0);
    assert_eq!(exact(&f.store, "HIT0001"), 1);
    assert_eq!(exact(&f.store, "MISS002"), 1, "younger than K minutes");
    // Non-hit plates never enter the searchable vocabulary in hit-only mode.
    let s = f
        .store
        .search(
            &who,
            &Search {
                query: PlateQuery::Wildcard {
                    pattern: "MISS*".into(),
                },
                from_ms: 0,
                to_ms: T0 * 2,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(s.reads.len(), 0);
}

#[test]
fn policy_enforces_reads_not_longer_than_hits() {
    let f = fixture();
    let err = f
        .store
        .set_policy(
            &Access::new("admin", "x"),
            &RetentionPolicy {
                reads_days: 60,
                hits_days: 30,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::BadPolicy(_)), "{err}");
    assert_eq!(f.store.policy().unwrap(), RetentionPolicy::default());
}

#[test]
fn legal_hold_pins_reads_past_their_purge_until_released() {
    let f = fixture();
    let who = Access::new("detective", "homicide");
    let ids = f
        .store
        .ingest(&[read("HOLD123", T0), read("FREE456", T0)])
        .unwrap();
    let hold = f.store.place_hold(&who, "CASE-2024-17", &ids[..1]).unwrap();
    f.store
        .set_policy(
            &who,
            &RetentionPolicy {
                reads_days: 5,
                ..Default::default()
            },
        )
        .unwrap();
    f.clock.set(T0 + 10 * DAY);
    let r = f.store.purge().unwrap();
    assert_eq!(r.reads_deleted, 1, "only the unheld read goes");
    let held = f.store.get_read(&who, ids[0]).unwrap().unwrap();
    assert!(held.held);
    assert_eq!(held.plate, "HOLD123");
    assert_eq!(exact(&f.store, "HOLD123"), 1, "held reads stay searchable");
    assert!(f.store.get_read(&who, ids[1]).unwrap().is_none());
    let holds = f.store.holds().unwrap();
    assert_eq!(holds[0].case_number, "CASE-2024-17");
    // Released after its day is gone: the read is deleted and the hold key destroyed.
    assert_eq!(f.store.release_hold(&who, hold).unwrap(), (0, 1));
    assert!(f.store.get_read(&who, ids[0]).unwrap().is_none());
    let ring = std::fs::read_to_string(f.layout.keyring_path("north")).unwrap();
    assert!(!ring.contains(&format!("hold/{hold}")));
}

#[test]
fn released_hold_within_retention_returns_reads_to_their_day() {
    let f = fixture();
    let who = Access::new("detective", "x");
    let ids = f.store.ingest(&[read("BACK123", T0)]).unwrap();
    let hold = f.store.place_hold(&who, "C-1", &ids).unwrap();
    assert_eq!(f.store.release_hold(&who, hold).unwrap(), (1, 0));
    let r = f.store.get_read(&who, ids[0]).unwrap().unwrap();
    assert!(!r.held);
    assert_eq!(exact(&f.store, "BACK123"), 1);
}

#[test]
fn purge_runs_by_itself_on_a_schedule() {
    let f = fixture();
    f.store.ingest(&[read("AUTO123", T0)]).unwrap();
    let store = Arc::new(f.store);
    let _sched = RetentionScheduler::start(store.clone(), Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(exact(&store, "AUTO123"), 1, "not due yet");
    f.clock.set(T0 + 40 * DAY);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while exact(&store, "AUTO123") == 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "scheduled purge did not run"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = store.audit_log().unwrap();
    assert!(
        log.records
            .iter()
            .any(|r| r.body.action == "retention.purge" && r.body.result_count == 1)
    );
}
