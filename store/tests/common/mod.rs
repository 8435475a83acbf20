// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use custos_core::CameraId;
use custos_store::{AgencyStore, Layout, ManualClock, NewRead, StoreOptions};

/// 2024-06-01T00:00:00Z
pub const T0: u64 = 1_717_200_000_000;
pub const DAY: u64 = 86_400_000;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
    pub clock: ManualClock,
    pub store: AgencyStore,
}

pub fn opts(clock: &ManualClock) -> StoreOptions {
    StoreOptions {
        clock: Arc::new(clock.clone()),
        key_provider: None,
        cache_bytes: 16 << 20,
    }
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let clock = ManualClock::new(T0);
    let store = AgencyStore::create(&layout, "north", opts(&clock)).unwrap();
    Fixture {
        dir,
        layout,
        clock,
        store,
    }
}

pub fn read(plate: &str, at_ms: u64) -> NewRead {
    NewRead {
        camera: CameraId::new("cam-1").unwrap(),
        captured_at_ms: at_ms,
        plate: plate.into(),
        confidence: 0.9,
        char_confidences: vec![0.9; plate.len()],
        candidates: vec![custos_store::PlateCandidate {
            text: plate.into(),
            score: 0.9,
        }],
        plate_box: [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 1.0, 4.0],
        crop_jpeg: Some(format!("JPEG-CROP-OF-{plate}").into_bytes()),
        context_jpeg: None,
        track_id: 7,
        hit_flags: 0,
    }
}

/// Copies a directory tree (a "backup" an attacker or an auditor might hold).
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
