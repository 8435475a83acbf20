// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use custos_store::{Access, AgencyStore, Layout, PlateQuery, Search};

#[test]
fn raw_database_file_holds_no_plate_text_and_exact_lookup_works() {
    let f = fixture();
    let plates = ["ZQX4821", "KJW77PL", "MNB3345"];
    let reads: Vec<_> = plates
        .iter()
        .enumerate()
        .map(|(i, p)| read(p, T0 + i as u64 * 1000))
        .collect();
    f.store.ingest(&reads).unwrap();
    let access = Access::new("officer-1", "stolen vehicle");
    let found = f
        .store
        .search(
            &access,
            &Search {
                query: PlateQuery::Exact {
                    plate: "kjw-77 pl".into(),
                },
                from_ms: T0 - DAY,
                to_ms: T0 + DAY,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(found.reads.len(), 1);
    assert_eq!(found.reads[0].plate, "KJW77PL");
    assert_eq!(
        found.reads[0].crop_jpeg.as_deref(),
        Some(&b"JPEG-CROP-OF-KJW77PL"[..])
    );
    let layout = f.layout.clone();
    drop(f.store);
    let raw = std::fs::read(layout.db_path("north")).unwrap();
    for p in plates {
        assert!(
            !contains(&raw, p.as_bytes()),
            "plate {p} in clear in the db"
        );
        assert!(!contains(&raw, format!("JPEG-CROP-OF-{p}").as_bytes()));
    }
    // The searched plate went into the audit log, sealed.
    assert!(!contains(&raw, b"kjw-77 pl"));
    let ring = std::fs::read(layout.keyring_path("north")).unwrap();
    assert!(!contains(&ring, b"KJW77PL"));
}

#[test]
fn another_master_key_cannot_open_the_agency() {
    let f = fixture();
    f.store.ingest(&[read("AB12CD", T0)]).unwrap();
    let layout = f.layout.clone();
    drop(f.store);
    let key = layout.key_path("north");
    std::fs::remove_file(&key).unwrap();
    custos_store::crypto::create_key_file(&key).unwrap();
    let err = AgencyStore::open(&layout, "north", opts(&f.clock))
        .err()
        .expect("a different master key must not open the keyring")
        .to_string();
    assert!(err.contains("wrong master key"), "{err}");
}

#[test]
fn agencies_are_separate_files() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let clock = custos_store::ManualClock::new(T0);
    let a = AgencyStore::create(&layout, "a1", opts(&clock)).unwrap();
    let b = AgencyStore::create(&layout, "b2", opts(&clock)).unwrap();
    a.ingest(&[read("AAA111", T0)]).unwrap();
    let q = Search {
        query: PlateQuery::Exact {
            plate: "AAA111".into(),
        },
        from_ms: T0 - DAY,
        to_ms: T0 + DAY,
        limit: 10,
    };
    let who = Access::new("x", "y");
    assert_eq!(a.search(&who, &q).unwrap().reads.len(), 1);
    assert_eq!(b.search(&who, &q).unwrap().reads.len(), 0);
    assert_ne!(layout.db_path("a1"), layout.db_path("b2"));
    assert!(AgencyStore::create(&layout, "../evil", opts(&clock)).is_err());
}

#[test]
fn a_failed_keyring_write_loses_no_acknowledged_read() {
    let f = fixture();
    f.store.ingest(&[read("DAY1AAA", T0)]).unwrap();
    // A directory where the keyring's temporary file goes: the next new key cannot be written.
    let blocker = f.layout.keyring_path("north").with_extension("tmp");
    std::fs::create_dir(&blocker).unwrap();
    assert!(f.store.ingest(&[read("DAY2AAA", T0 + DAY)]).is_err());
    std::fs::remove_dir(&blocker).unwrap();
    // The retry is acknowledged: after a restart it must still read.
    let ids = f.store.ingest(&[read("DAY2BBB", T0 + DAY)]).unwrap();
    let layout = f.layout.clone();
    drop(f.store);
    let store = AgencyStore::open(&layout, "north", opts(&f.clock)).unwrap();
    let back = store.fetch_read(ids[0]).unwrap().unwrap();
    assert_eq!(back.plate, "DAY2BBB");
}
