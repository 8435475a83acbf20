//! A full disk: a clear error naming the problem, and nothing committed is lost. Needs a small
//! filesystem: a tmpfs with `size=`, which needs mount privileges (root); without them the test
//! fails and says so rather than passing unexamined.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use std::process::Command;

use common::*;
use custos_store::{Access, AgencyStore, Layout, ReadId, StoreError};

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_gives_a_clear_error_and_keeps_committed_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // A test that cannot run must not pass: without mount privileges it fails and says so
    // (run as root, as scripts/test does, or skip it by name: `--skip full_disk`).
    assert!(
        ok,
        "full_disk needs root (CAP_SYS_ADMIN) to mount a 3 MiB tmpfs; run as root or --skip full_disk"
    );
    let _guard = Mount(mnt.clone());
    let layout = Layout::new(&mnt);
    let clock = custos_store::ManualClock::new(T0);
    let store = AgencyStore::create(&layout, "north", opts(&clock)).unwrap();
    let mut acked: Vec<ReadId> = Vec::new();
    let mut err = None;
    for n in 0..10_000u64 {
        let batch: Vec<_> = (0..50)
            .map(|i| read(&format!("FD{n:04}{i:02}"), T0 + n * 100 + i))
            .collect();
        match store.ingest(&batch) {
            Ok(ids) => acked.extend(ids),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("a 3 MiB filesystem must fill up");
    assert!(
        matches!(err, StoreError::DiskFull { .. }),
        "expected DiskFull, got: {err}"
    );
    assert!(err.to_string().contains("is full"), "{err}");
    assert!(!acked.is_empty());
    drop(store);
    // Make room (as an operator would), reopen, and find every acknowledged read.
    let _ = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&mnt)
        .status();
    let store = AgencyStore::open(&layout, "north", opts(&clock)).unwrap();
    let who = Access::new("checker", "disk full");
    for id in [acked[0], acked[acked.len() / 2], acked[acked.len() - 1]] {
        assert!(
            store.get_read(&who, id).unwrap().is_some(),
            "acknowledged read {id} lost"
        );
    }
    assert!(store.count_reads().unwrap() >= acked.len() as u64);
    assert!(store.verify_audit().unwrap().ok());
}
