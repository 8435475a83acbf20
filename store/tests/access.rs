//! Records the API layer relies on: login secrets (sealed, survive reopen), the camera registry,
//! record deletion, purpose policy, and transparency counts.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use common::{DAY, T0, fixture, opts, read};
use custos_store::records::{Principal, RecordKind};
use custos_store::{Access, AgencyStore, Camera, LoginSecrets, PurposePolicy};

#[test]
fn login_secrets_are_sealed_and_survive_reopen() {
    let f = fixture();
    let who = Access::new("admin", "enrolment");
    let pid = f
        .store
        .add_principal(
            &who,
            &Principal {
                name: "jane".into(),
                role: "investigator".into(),
                disabled: false,
            },
        )
        .unwrap();
    let secrets = LoginSecrets {
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$UNIQUEHASHMARKER".into(),
        totp_secret: vec![7; 20],
        ..Default::default()
    };
    f.store.set_login_secrets(&who, pid, &secrets).unwrap();
    let mut state = f.store.login_secrets(pid).unwrap().unwrap();
    assert_eq!(state, secrets);
    state.failed_attempts = 3;
    state.totp_last_step = 42;
    f.store.update_login_state(pid, &state).unwrap();
    assert_eq!(f.store.find_principal("jane").unwrap().unwrap().0, pid);
    assert!(f.store.find_principal("john").unwrap().is_none());
    drop(f.store);
    let raw = std::fs::read(f.layout.db_path("north")).unwrap();
    assert!(
        !raw.windows(16).any(|w| w == b"UNIQUEHASHMARKER"),
        "password hash in the clear"
    );
    let store = AgencyStore::open(&f.layout, "north", opts(&f.clock)).unwrap();
    let back = store.login_secrets(pid).unwrap().unwrap();
    assert_eq!((back.failed_attempts, back.totp_last_step), (3, 42));
    // Enrolment is audited; the per-attempt counter update is not (the API audits the attempt).
    let actions: Vec<String> = store
        .audit_log()
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.body.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.as_str() == "login_secrets.put")
            .count(),
        1
    );
}

#[test]
fn cameras_delete_and_purposes() {
    let f = fixture();
    let who = Access::new("admin", "setup");
    let cam = Camera {
        id: "gate-1".into(),
        name: "Gate".into(),
        url: "rtsp://10.0.0.5/stream".into(),
        enabled: true,
    };
    let id = f
        .store
        .put_record(&who, RecordKind::Camera, None, &cam)
        .unwrap();
    assert_eq!(
        f.store.list_records::<Camera>(RecordKind::Camera).unwrap(),
        vec![(id, cam)]
    );
    assert!(f.store.delete_record(&who, RecordKind::Camera, id).unwrap());
    assert!(!f.store.delete_record(&who, RecordKind::Camera, id).unwrap());
    assert!(
        f.store
            .list_records::<Camera>(RecordKind::Camera)
            .unwrap()
            .is_empty()
    );

    assert_eq!(f.store.purpose_policy().unwrap(), PurposePolicy::default());
    let mut p = PurposePolicy::default();
    p.prohibited.push("stolen_vehicle".into());
    assert!(f.store.set_purpose_policy(&who, &p).is_err());
    p.allowed.retain(|x| x.name != "stolen_vehicle");
    f.store.set_purpose_policy(&who, &p).unwrap();
    assert_eq!(f.store.purpose_policy().unwrap(), p);

    assert_eq!(f.store.role_policy().unwrap(), None);
    let roles: custos_store::RolePolicy =
        [("operator".to_owned(), vec!["alerts_stream".to_owned()])].into();
    f.store.set_role_policy(&who, &roles).unwrap();
    assert_eq!(f.store.role_policy().unwrap(), Some(roles));
    let log = f.store.audit_log().unwrap().records;
    assert_eq!(log.last().unwrap().body.action, "roles.set");
}

#[test]
fn counts_per_day() {
    let f = fixture();
    f.store
        .ingest(&[read("AB12CD", T0 + 5), read("XY99ZZ", T0 + 6)])
        .unwrap();
    f.store.ingest(&[read("AB12CD", T0 + DAY + 5)]).unwrap();
    let d0 = custos_store::clock::day_of(T0);
    let counts = f.store.counts_per_day(d0, d0 + 5).unwrap();
    assert_eq!(counts, vec![(d0, 2, 0), (d0 + 1, 1, 0)]);
    assert_eq!(f.store.counts_per_day(d0 + 1, d0 + 1).unwrap().len(), 1);
}

#[test]
fn audit_batch_is_one_commit_that_verifies() {
    let f = fixture();
    let before = f.store.audit_log().unwrap().records.len();
    let evs: Vec<custos_store::audit::AuditEvent> = (0..300)
        .map(|i| custos_store::audit::AuditEvent {
            principal: "jane".into(),
            action: "/custos.v1.Reads/Search".into(),
            target: "north".into(),
            reason: "stolen_vehicle".into(),
            case_number: None,
            parameters: format!("{{\"i\":{i}}}"),
            result_count: i,
            outcome: "ok".into(),
        })
        .collect();
    f.store.audit_batch(&evs).unwrap();
    let log = f.store.audit_log().unwrap();
    assert_eq!(log.records.len(), before + 300);
    assert_eq!(log.records.last().unwrap().body.parameters, "{\"i\":299}");
    // 300 entries crossed a checkpoint boundary inside the one transaction.
    assert!(f.store.verify_audit().unwrap().ok());
}
