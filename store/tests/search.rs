// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use custos_store::{Access, PlateQuery, Search};

fn plates(f: &Fixture, q: PlateQuery, from: u64, to: u64) -> Vec<String> {
    let mut v: Vec<String> = f
        .store
        .search(
            &Access::new("analyst", "investigation"),
            &Search {
                query: q,
                from_ms: from,
                to_ms: to,
                limit: 100,
            },
        )
        .unwrap()
        .reads
        .into_iter()
        .map(|r| r.plate)
        .collect();
    v.sort();
    v
}

fn setup() -> Fixture {
    let f = fixture();
    let reads = vec![
        read("AB12CDE", T0),
        read("AB12CDF", T0 + 10),
        read("AB99XYZ", T0 + 20),
        read("XB12CDE", T0 + DAY + 5),
        read("QQ00QQQ", T0 + 2 * DAY),
        read("AB12CDE", T0 + 3 * DAY),
    ];
    f.store.ingest(&reads).unwrap();
    f
}

#[test]
fn exact_prefix_wildcard_fuzzy() {
    let f = setup();
    let all = (T0 - DAY, T0 + 10 * DAY);
    let exact = plates(
        &f,
        PlateQuery::Exact {
            plate: "AB12CDE".into(),
        },
        all.0,
        all.1,
    );
    assert_eq!(exact, ["AB12CDE", "AB12CDE"]);
    let prefix = plates(
        &f,
        PlateQuery::Prefix {
            prefix: "ab12".into(),
        },
        all.0,
        all.1,
    );
    assert_eq!(prefix, ["AB12CDE", "AB12CDE", "AB12CDF"]);
    let wild = plates(
        &f,
        PlateQuery::Wildcard {
            pattern: "?B12*E".into(),
        },
        all.0,
        all.1,
    );
    assert_eq!(wild, ["AB12CDE", "AB12CDE", "XB12CDE"]);
    let fuzzy = plates(
        &f,
        PlateQuery::Fuzzy {
            plate: "AB12CDE".into(),
            max_edits: 1,
        },
        all.0,
        all.1,
    );
    assert_eq!(fuzzy, ["AB12CDE", "AB12CDE", "AB12CDF", "XB12CDE"]);
    let none = plates(
        &f,
        PlateQuery::Fuzzy {
            plate: "ZZZZZZZ".into(),
            max_edits: 2,
        },
        all.0,
        all.1,
    );
    assert!(none.is_empty());
}

#[test]
fn time_window_bounds_results() {
    let f = setup();
    let day0 = plates(
        &f,
        PlateQuery::Exact {
            plate: "AB12CDE".into(),
        },
        T0,
        T0 + 100,
    );
    assert_eq!(day0.len(), 1);
    let later = plates(
        &f,
        PlateQuery::Wildcard {
            pattern: "*".into(),
        },
        T0 + DAY,
        T0 + 2 * DAY,
    );
    assert_eq!(later, ["QQ00QQQ", "XB12CDE"]);
}

#[test]
fn exact_search_spans_blocks_and_cuts_the_window_inside_them() {
    // The index is bucketed by 4-block block of the day: windows that start and end inside a
    // block, and reads at block and day boundaries, must come back exactly once and in order.
    let f = fixture();
    let day_start = T0 - T0 % DAY;
    let block = 4 * 3_600_000; // one index bucket
    let times = [
        day_start,
        day_start + block - 1,
        day_start + block,
        day_start + 5 * block + 30 * 60_000,
        day_start + DAY - 1,
        day_start + DAY,
    ];
    let reads: Vec<_> = times.iter().map(|&t| read("HR12345", t)).collect();
    f.store.ingest(&reads).unwrap();
    f.store
        .ingest(&[read("OTHER99", day_start + block)])
        .unwrap();
    let find = |from: u64, to: u64, limit: usize| {
        let r = f
            .store
            .find(&Search {
                query: PlateQuery::Exact {
                    plate: "hr 12345".into(),
                },
                from_ms: from,
                to_ms: to,
                limit,
            })
            .unwrap();
        (
            r.reads.iter().map(|r| r.captured_at_ms).collect::<Vec<_>>(),
            r.truncated,
        )
    };
    assert_eq!(find(day_start, day_start + 2 * DAY, 100).0, times);
    assert_eq!(
        find(
            day_start + block - 1,
            day_start + 5 * block + 30 * 60_000,
            100
        )
        .0,
        times[1..4]
    );
    assert_eq!(
        find(day_start + 1, day_start + 5 * block + 30 * 60_000 - 1, 100).0,
        times[1..3]
    );
    assert_eq!(
        find(day_start + DAY - 1, day_start + DAY, 100).0,
        times[4..]
    );
    assert!(
        find(day_start + 2 * block, day_start + 5 * block, 100)
            .0
            .is_empty()
    );
    assert_eq!(
        find(day_start, day_start + 2 * DAY, 3),
        (times[..3].to_vec(), true)
    );
}

#[test]
fn searches_are_audited_and_fuzzy_is_capped() {
    let f = setup();
    let who = Access::new("analyst", "case 7").with_case("C-7");
    let err = f
        .store
        .search(
            &who,
            &Search {
                query: PlateQuery::Fuzzy {
                    plate: "AB".into(),
                    max_edits: 3,
                },
                from_ms: 0,
                to_ms: T0 * 2,
                limit: 10,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("at most 2"));
    f.store
        .search(
            &who,
            &Search {
                query: PlateQuery::Prefix {
                    prefix: "AB".into(),
                },
                from_ms: 0,
                to_ms: T0 * 2,
                limit: 2,
            },
        )
        .map(|r| assert!(r.truncated && r.reads.len() == 2))
        .unwrap();
    let log = f.store.audit_log().unwrap();
    let last = log.records.last().unwrap();
    assert_eq!(last.body.action, "search");
    assert_eq!(last.body.principal, "analyst");
    assert_eq!(last.body.case_number.as_deref(), Some("C-7"));
    assert_eq!(last.body.result_count, 2);
    assert!(last.body.parameters.contains("\"prefix\":\"AB\""));
}

#[test]
fn vocabulary_survives_reopen() {
    let f = setup();
    let layout = f.layout.clone();
    let clock = f.clock.clone();
    drop(f.store);
    let store = custos_store::AgencyStore::open(&layout, "north", opts(&clock)).unwrap();
    let r = store
        .search(
            &Access::new("a", "b"),
            &Search {
                query: PlateQuery::Wildcard {
                    pattern: "QQ*".into(),
                },
                from_ms: 0,
                to_ms: T0 * 2,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(r.reads.len(), 1);
}
