//! Schema upgrades, decommission and wipe, records.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use custos_store::appliance::{read_appliance_log, verify_appliance_log};
use custos_store::records::{
    LegalRequest, LegalRequestKind, NotificationStatus, Principal, RecordKind, SharingGrant,
};
use custos_store::{
    Access, AgencyStore, PlateQuery, RetentionPolicy, RetentionScheduler, Search, StoreError,
    WipeCertificate, run_due_wipes, schema,
};

#[test]
fn upgrades_a_version_1_file() {
    let f = fixture();
    let ids = f.store.ingest(&[read("UPG1234", T0)]).unwrap();
    let layout = f.layout.clone();
    drop(f.store);
    // Rewrite the meta table the way version 1 kept it.
    {
        let db = redb::Database::open(layout.db_path("north")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(schema::META)
            .unwrap()
            .remove(schema::META_POLICY)
            .unwrap();
        txn.commit().unwrap();
        schema::write_v2_index(&db).unwrap();
        schema::write_v1_meta(&db, 14, 60).unwrap();
        assert_eq!(schema::version_of(&db).unwrap(), 1);
    }
    let store = AgencyStore::open(&layout, "north", opts(&f.clock)).unwrap();
    let p = store.policy().unwrap();
    assert_eq!((p.reads_days, p.hits_days), (14, 60));
    assert_eq!(p.audit_days, RetentionPolicy::default().audit_days);
    assert!(
        store
            .get_read(&Access::new("a", "b"), ids[0])
            .unwrap()
            .is_some()
    );
    assert_eq!(exact_ids(&store, "UPG1234"), ids);
    drop(store);
    let db = redb::Database::open(layout.db_path("north")).unwrap();
    assert_eq!(schema::version_of(&db).unwrap(), schema::CURRENT_VERSION);
}

fn exact_ids(store: &AgencyStore, plate: &str) -> Vec<custos_store::ReadId> {
    let r = store
        .find(&Search {
            query: PlateQuery::Exact {
                plate: plate.into(),
            },
            from_ms: T0 - 10 * DAY,
            to_ms: T0 + 10 * DAY,
            limit: 100,
        })
        .unwrap();
    r.reads.iter().map(|r| r.id).collect()
}

#[test]
fn upgrades_a_version_2_blind_index() {
    // Version 2 keyed the blind index token | time | id; version 3 puts the 8-hour block first.
    let f = fixture();
    let hour = 3_600_000;
    let reads: Vec<_> = (0..30)
        .map(|i| {
            read(
                if i % 3 == 0 { "OLD1234" } else { "NEW5678" },
                T0 + i * hour,
            )
        })
        .collect();
    let ids = f.store.ingest(&reads).unwrap();
    let layout = f.layout.clone();
    drop(f.store);
    {
        let db = redb::Database::open(layout.db_path("north")).unwrap();
        schema::write_v2_index(&db).unwrap();
        assert_eq!(schema::version_of(&db).unwrap(), 2);
    }
    let store = AgencyStore::open(&layout, "north", opts(&f.clock)).unwrap();
    let want: Vec<_> = ids.iter().copied().step_by(3).collect();
    assert_eq!(exact_ids(&store, "OLD1234"), want);
    assert_eq!(exact_ids(&store, "NEW5678").len(), 20);
    // New reads land in the upgraded index alongside the old ones.
    let more = store.ingest(&[read("OLD1234", T0 + 31 * hour)]).unwrap();
    assert_eq!(exact_ids(&store, "OLD1234").last(), more.last());
    drop(store);
    let db = redb::Database::open(layout.db_path("north")).unwrap();
    assert_eq!(schema::version_of(&db).unwrap(), schema::CURRENT_VERSION);
}

#[test]
fn refuses_a_file_from_a_newer_build() {
    let f = fixture();
    let layout = f.layout.clone();
    drop(f.store);
    {
        let db = redb::Database::open(layout.db_path("north")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(schema::META)
            .unwrap()
            .insert(schema::META_VERSION, &99u32.to_le_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let err = AgencyStore::open(&layout, "north", opts(&f.clock))
        .err()
        .unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn decommission_wipes_after_the_grace_period_with_a_signed_certificate() {
    let f = fixture();
    let who = Access::new("chief", "contract ended");
    f.store.ingest(&[read("WIPE123", T0)]).unwrap();
    let d = f.store.decommission(&who, 90).unwrap();
    assert_eq!(d.wipe_after_ms, T0 + 90 * DAY);
    assert!(matches!(
        f.store.ingest(&[read("LATE123", T0)]),
        Err(StoreError::Decommissioned(_))
    ));
    drop(f.store);

    f.clock.set(T0 + 89 * DAY);
    assert!(run_due_wipes(&f.layout, &f.clock).unwrap().is_empty());
    assert!(f.layout.db_path("north").exists());

    f.clock.set(T0 + 90 * DAY);
    let certs = run_due_wipes(&f.layout, &f.clock).unwrap();
    assert_eq!(certs.len(), 1);
    assert!(certs[0].verify());
    assert!(certs[0].audit_head.is_some());
    assert!(!f.layout.agency_dir("north").exists());
    let log = read_appliance_log(&f.layout).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "agency.wipe");
    assert!(verify_appliance_log(&f.layout, None).unwrap().is_empty());
    let mut cert = certs[0].clone();
    cert.wiped_at_ms += 1;
    assert!(
        !cert.verify(),
        "the certificate signature covers its fields"
    );
}

#[test]
fn a_running_schedule_wipes_an_open_agency_when_its_grace_period_ends() {
    let f = fixture();
    let who = Access::new("chief", "contract ended");
    let ids = f.store.ingest(&[read("WIPE123", T0)]).unwrap();
    f.store.decommission(&who, 90).unwrap();
    // The server holds the store in several places (gRPC, audit writer, scheduler).
    let store = Arc::new(f.store);
    let held = store.clone();
    let _sched = RetentionScheduler::start(store.clone(), Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(100));
    assert!(f.layout.db_path("north").exists(), "not due yet");
    assert!(held.fetch_read(ids[0]).unwrap().is_some());

    f.clock.set(T0 + 90 * DAY);
    let deadline = Instant::now() + Duration::from_secs(5);
    // The certificate is the wipe's last step.
    while read_appliance_log(&f.layout).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "scheduled wipe did not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!f.layout.agency_dir("north").exists());
    let log = read_appliance_log(&f.layout).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "agency.wipe");
    let cert: WipeCertificate = serde_json::from_str(&log[0].details).unwrap();
    assert!(cert.verify());
    assert!(cert.audit_head.is_some());
    assert!(verify_appliance_log(&f.layout, None).unwrap().is_empty());
    // Every handle now refuses: nothing reaches the deleted files or the forgotten keys.
    assert!(matches!(held.fetch_read(ids[0]), Err(StoreError::Wiped(_))));
    assert!(matches!(
        held.find(&Search {
            query: PlateQuery::Prefix {
                prefix: "WIPE".into()
            },
            from_ms: T0 - DAY,
            to_ms: T0 + DAY,
            limit: 10,
        }),
        Err(StoreError::Wiped(_))
    ));
    assert!(matches!(
        held.ingest(&[read("LATE123", T0)]),
        Err(StoreError::Decommissioned(_))
    ));
    assert!(matches!(held.audit_log(), Err(StoreError::Wiped(_))));
    assert!(held.wipe_if_due().unwrap().is_none(), "wiped once");
    assert!(run_due_wipes(&f.layout, &f.clock).unwrap().is_empty());
    drop(_sched);
    drop(store);
    drop(held);
    assert!(!f.layout.agency_dir("north").exists());
}

#[test]
fn a_legal_hold_stops_decommissioning_and_wiping() {
    let f = fixture();
    let who = Access::new("chief", "contract ended");
    let ids = f.store.ingest(&[read("HELD123", T0)]).unwrap();
    let hold = f.store.place_hold(&who, "CASE-1", &ids).unwrap();
    assert!(matches!(
        f.store.decommission(&who, 90),
        Err(StoreError::UnderLegalHold { reads: 1, .. })
    ));
    f.store.release_hold(&who, hold).unwrap();
    f.store.decommission(&who, 90).unwrap();
    // A hold placed during the grace period stops the wipe, whether the agency is open...
    f.store.place_hold(&who, "CASE-2", &ids).unwrap();
    f.clock.set(T0 + 90 * DAY);
    assert!(matches!(
        f.store.wipe_if_due(),
        Err(StoreError::UnderLegalHold { reads: 1, .. })
    ));
    assert!(f.store.fetch_read(ids[0]).unwrap().is_some());
    drop(f.store);
    // ...or not; the refusal is in the appliance log.
    assert!(run_due_wipes(&f.layout, &f.clock).unwrap().is_empty());
    assert!(f.layout.db_path("north").exists());
    let log = read_appliance_log(&f.layout).unwrap();
    assert_eq!(log.last().unwrap().action, "agency.wipe_refused");
    assert!(log.iter().all(|e| e.action != "agency.wipe"));
}

#[test]
fn a_cancelled_decommission_is_not_wiped_by_the_schedule() {
    let f = fixture();
    let who = Access::new("chief", "contract ended");
    f.store.decommission(&who, 1).unwrap();
    f.store.cancel_decommission(&who).unwrap();
    f.clock.set(T0 + 2 * DAY);
    assert!(f.store.wipe_if_due().unwrap().is_none());
    assert!(f.layout.db_path("north").exists());
    f.store.ingest(&[read("KEPT123", T0)]).unwrap();
}

#[test]
fn records_are_sealed_and_round_trip() {
    let f = fixture();
    let who = Access::new("admin", "setup");
    let req = LegalRequest {
        kind: LegalRequestKind::Subpoena,
        reference: "SUBPOENA-SECRET-77".into(),
        issuing_authority: "County Court".into(),
        case_number: Some("C-77".into()),
        received_at_ms: T0,
        scope: "reads of camera 4".into(),
        notification: NotificationStatus::Pending,
    };
    let id = f.store.register_legal_request(&who, &req).unwrap();
    f.store
        .set_notification(&who, id, NotificationStatus::Notified { at_ms: T0 + 5 })
        .unwrap();
    let got: LegalRequest = f
        .store
        .get_record(RecordKind::LegalRequest, id)
        .unwrap()
        .unwrap();
    assert_eq!(
        got.notification,
        NotificationStatus::Notified { at_ms: T0 + 5 }
    );
    f.store
        .grant_sharing(
            &who,
            &SharingGrant {
                to_agency: "south".into(),
                scope: "hits".into(),
                cameras: Vec::new(),
                window_from_ms: 0,
                window_to_ms: u64::MAX,
                granted_by: "admin".into(),
                granted_at_ms: T0,
                expires_at_ms: None,
                revoked_at_ms: None,
            },
        )
        .unwrap();
    let pid = f
        .store
        .add_principal(
            &who,
            &Principal {
                name: "Officer Jane".into(),
                role: "operator".into(),
                disabled: false,
            },
        )
        .unwrap();
    f.store
        .add_credential(&who, pid, "tok-0123456789abcdef")
        .unwrap();
    assert_eq!(
        f.store
            .authenticate("tok-0123456789abcdef")
            .unwrap()
            .unwrap()
            .0,
        pid
    );
    assert!(f.store.authenticate("wrong").unwrap().is_none());
    let hit = custos_store::records::Hit {
        read_id: custos_store::ReadId(1),
        hotlist_id: 1,
        entry_id: 2,
        plate: "HITPLATE9".into(),
        camera: "cam-1".into(),
        captured_at_ms: T0,
    };
    f.store.record_hit(&hit).unwrap();
    assert_eq!(f.store.hits(T0 - 1, T0 + 1).unwrap()[0].1, hit);
    let layout = f.layout.clone();
    drop(f.store);
    let raw = std::fs::read(layout.db_path("north")).unwrap();
    for secret in [
        "SUBPOENA-SECRET-77",
        "Officer Jane",
        "tok-0123456789abcdef",
        "HITPLATE9",
    ] {
        assert!(!contains(&raw, secret.as_bytes()), "{secret} in clear");
    }
}
