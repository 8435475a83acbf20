// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use custos_store::audit::Problem;
use custos_store::audit::chain::StoredAudit;
use custos_store::schema::AUDIT;
use custos_store::{Access, AgencyStore, Layout};
use redb::{ReadableDatabase, ReadableTable};

/// A store with 12 audit entries, closed; returns the fixture for copying.
fn populated() -> Fixture {
    let f = fixture();
    for i in 0..11 {
        let who = Access::new(&format!("officer-{i}"), "patrol");
        f.store
            .audit(who.event_for_test("search", "reads", &format!("{{\"n\":{i}}}")))
            .unwrap();
    }
    f
}

trait EventForTest {
    fn event_for_test(
        &self,
        action: &str,
        target: &str,
        params: &str,
    ) -> custos_store::audit::AuditEvent;
}
impl EventForTest for Access {
    fn event_for_test(
        &self,
        action: &str,
        target: &str,
        params: &str,
    ) -> custos_store::audit::AuditEvent {
        custos_store::audit::AuditEvent {
            principal: self.principal.clone(),
            action: action.into(),
            target: target.into(),
            reason: self.reason.clone(),
            case_number: None,
            parameters: params.into(),
            result_count: 1,
            outcome: "ok".into(),
        }
    }
}

/// Copies the data dir, edits the copy's audit table with `edit`, and verifies the copy.
fn tamper(f: &Fixture, edit: impl FnOnce(&mut Vec<(u64, Vec<u8>)>)) -> Vec<Problem> {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(f.dir.path(), copy.path());
    let layout = Layout::new(copy.path());
    {
        let db = redb::Database::open(layout.db_path("north")).unwrap();
        let mut rows: Vec<(u64, Vec<u8>)> = {
            let txn = db.begin_read().unwrap();
            let t = txn.open_table(AUDIT).unwrap();
            t.iter()
                .unwrap()
                .map(|r| {
                    let (k, v) = r.unwrap();
                    (k.value(), v.value().to_vec())
                })
                .collect()
        };
        edit(&mut rows);
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(AUDIT).unwrap();
            t.retain(|_, _| false).unwrap();
            // Rows keep their stored order: the table key is the position.
            for (pos, (_, v)) in rows.iter().enumerate() {
                t.insert(pos as u64, v.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let store = AgencyStore::open(&layout, "north", opts(&f.clock)).unwrap();
    store.verify_audit().unwrap().problems
}

fn edit_json(v: &mut Vec<u8>, change: impl FnOnce(&mut StoredAudit)) {
    let mut e: StoredAudit = serde_json::from_slice(v).unwrap();
    change(&mut e);
    *v = serde_json::to_vec(&e).unwrap();
}

#[test]
fn intact_log_verifies() {
    let f = populated();
    let report = f.store.verify_audit().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.entries, 12);
}

#[test]
fn names_the_altered_entry() {
    let f = populated();
    let problems = tamper(&f, |rows| {
        edit_json(&mut rows[5].1, |e| e.principal = "nobody".into())
    });
    assert_eq!(
        problems,
        vec![Problem::Altered {
            seq: 5,
            position: 5
        }]
    );
}

#[test]
fn names_an_entry_whose_sealed_parameters_were_swapped() {
    let f = populated();
    let p3: StoredAudit = {
        let log = f.store.audit_log().unwrap();
        assert_eq!(log.records[3].body.parameters, "{\"n\":2}");
        let db_rows = tamper(&f, |_| {});
        assert!(db_rows.is_empty());
        let copy = tempfile::tempdir().unwrap();
        copy_tree(f.dir.path(), copy.path());
        drop(log);
        let db = redb::Database::open(Layout::new(copy.path()).db_path("north")).unwrap();
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(AUDIT).unwrap();
        serde_json::from_slice(t.get(3).unwrap().unwrap().value()).unwrap()
    };
    let problems = tamper(&f, |rows| {
        edit_json(&mut rows[7].1, |e| {
            e.parameters_sealed = p3.parameters_sealed.clone()
        })
    });
    assert_eq!(
        problems,
        vec![Problem::Altered {
            seq: 7,
            position: 7
        }]
    );
}

#[test]
fn names_the_removed_entry() {
    let f = populated();
    let problems = tamper(&f, |rows| {
        rows.remove(4);
    });
    assert_eq!(problems, vec![Problem::Removed { first: 4, last: 4 }]);
}

#[test]
fn names_reordered_entries() {
    let f = populated();
    let problems = tamper(&f, |rows| rows.swap(8, 9));
    assert_eq!(
        problems,
        vec![Problem::Reordered {
            seq: 9,
            position: 8,
            before: 8
        }]
    );
}

#[test]
fn names_the_inserted_entry() {
    let f = populated();
    let problems = tamper(&f, |rows| {
        // A forged entry claiming #6, linked to #5 and with a correct hash of its own content.
        let mut forged = rows[6].1.clone();
        edit_json(&mut forged, |e| {
            e.principal = "forger".into();
            let body = custos_store::audit::AuditBody {
                seq: e.seq,
                time_ms: e.time_ms,
                agency: e.agency.clone(),
                principal: e.principal.clone(),
                action: e.action.clone(),
                target: e.target.clone(),
                reason: e.reason.clone(),
                case_number: e.case_number.clone(),
                parameters: "{\"n\":5}".into(),
                result_count: e.result_count,
                outcome: e.outcome.clone(),
                prev_hash: e.prev_hash.clone(),
            };
            e.hash = body.hash();
        });
        rows.insert(6, (0, forged));
    });
    assert_eq!(
        problems,
        vec![Problem::Inserted {
            position: 6,
            claimed_seq: 6
        }]
    );
}

#[test]
fn checkpoints_are_signed_and_written_periodically() {
    let f = fixture();
    for _ in 0..300 {
        f.store
            .audit(Access::new("p", "r").event_for_test("search", "reads", "{}"))
            .unwrap();
    }
    let log = f.store.audit_log().unwrap();
    assert_eq!(log.checkpoints.len(), 1);
    assert_eq!(log.checkpoints[0].seq, 255);
    assert!(log.checkpoints[0].signature_ok(None));
    assert!(f.store.verify_audit().unwrap().ok());
}
