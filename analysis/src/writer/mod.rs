//! The store writer of `custos serve`: one thread that takes each vehicle pass from the
//! analysis, matches it against the agency's hotlists, stores it as a read (with its crop as
//! JPEG) in small batched commits, records the hits and publishes the read and the alerts to
//! the gRPC hub (`Reads.StreamLive`, `Hotlists.StreamAlerts`).
//!
//! The analysis hands passes over a bounded channel with `try_send`, so a writer that falls
//! behind (slow disk) loses passes there, counted by the analysis; it never stalls the
//! analysis. Store errors are logged with counts and the batch is dropped: the writer keeps
//! running.

mod hotlists;
mod record;
mod retroactive;
mod stats;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use custos_live::Hub;
use custos_store::AgencyStore;
use custos_track::MatchConfig;

use self::hotlists::Hotlists;
pub use self::record::kind_name;
use self::record::write_batch;
use self::retroactive::retroactive;
pub use self::stats::WriterStats;
use crate::Pass;

/// How the writer batches and refreshes.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Most reads per store commit.
    pub batch: usize,
    /// A batch is committed when its first pass has waited this long, full or not.
    pub batch_wait: Duration,
    /// How often the hotlists are re-read from the store (entries added over gRPC take effect
    /// within this long).
    pub hotlist_refresh: Duration,
    /// JPEG quality of the stored crop (1–100); `None`: no crop stored.
    pub crop_quality: Option<u8>,
    pub matching: MatchConfig,
}

/// A running writer; [`Writer::join`] waits until the analysis has dropped its sender and
/// everything received is committed.
pub struct Writer {
    handle: JoinHandle<()>,
}

impl Writer {
    pub fn start(
        passes: Receiver<Pass>,
        store: Arc<AgencyStore>,
        hub: Hub,
        cfg: WriterConfig,
        stats: Arc<WriterStats>,
    ) -> std::io::Result<Self> {
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(passes, &store, &hub, &cfg, &stats))?;
        Ok(Self { handle })
    }

    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the store writer panicked");
        }
    }
}

/// Hotlist changes made through the API are applied at most this often (a burst of entries
/// added one by one costs one re-read per interval).
const HOTLIST_CHANGE_CHECK: Duration = Duration::from_millis(100);

fn run(
    passes: Receiver<Pass>,
    store: &AgencyStore,
    hub: &Hub,
    cfg: &WriterConfig,
    stats: &WriterStats,
) {
    let mut hotlists = Hotlists::new();
    let mut batch: Vec<(Pass, Instant)> = Vec::with_capacity(cfg.batch);
    let changes = hub.hotlist_changes();
    let mut change_pending = false;
    loop {
        // (Not `Instant::now() - refresh` at start: that underflows on a freshly booted box.)
        let since = hotlists.checked.map(|t| t.elapsed());
        let change_due = change_pending && since.is_none_or(|d| d >= HOTLIST_CHANGE_CHECK);
        if since.is_none_or(|d| d >= cfg.hotlist_refresh) || change_due {
            change_pending = false;
            let added = hotlists.refresh(store, cfg, stats);
            if let Some(newest) = added.iter().map(|(r, _)| r.entry_id).max() {
                retroactive(&added, store, hub, cfg, stats);
                hotlists.searched(store, newest);
            }
        }
        // Wait for the first pass of a batch at most until the next hotlist refresh is due (a
        // pending API change: until it may be applied), waking at once on an API change.
        let elapsed = hotlists.checked.map_or(Duration::ZERO, |t| t.elapsed());
        let next = if change_pending {
            HOTLIST_CHANGE_CHECK
        } else {
            cfg.hotlist_refresh
        };
        let first_wait = next.saturating_sub(elapsed).max(Duration::from_millis(10));
        select! {
            recv(passes) -> p => match p {
                Ok(p) => batch.push((p, Instant::now())),
                Err(_) => break,
            },
            recv(changes) -> _ => {
                change_pending = true;
                continue;
            }
            default(first_wait) => continue,
        }
        let deadline = Instant::now() + cfg.batch_wait;
        let mut closed = false;
        while batch.len() < cfg.batch {
            match passes.recv_deadline(deadline) {
                Ok(p) => batch.push((p, Instant::now())),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        write_batch(&mut batch, store, hub, cfg, stats, &hotlists);
        if closed {
            break;
        }
    }
    // The analysis has stopped: whatever was left is already written above.
    tracing::info!(
        reads = stats.reads_stored.load(Ordering::Relaxed),
        hits = stats.hits.load(Ordering::Relaxed),
        "store writer stopped"
    );
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::PlateCrop;
    use custos_store::records::Hotlist;
    use custos_store::records::HotlistEntry as StoredEntry;
    use custos_store::{Access, Layout, StoreOptions};
    use custos_track::TextCandidate;

    fn pass(text: &str, track: u64) -> Pass {
        let now = SystemTime::now();
        Pass {
            camera: custos_core::CameraId::new("cam0").unwrap(),
            track_id: track,
            text: text.into(),
            char_confidences: vec![0.9; text.len()],
            confidence: 0.9,
            candidates: vec![TextCandidate {
                text: text.into(),
                score: 0.9,
                fits_format: None,
            }],
            fits_format: None,
            prior_applied: false,
            best_crop: PlateCrop {
                width: 160,
                height: 48,
                pixels: (0..160 * 48).map(|i| (i % 251) as u8).collect(),
            },
            best_crop_confidence: 0.9,
            best_quad: [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]],
            best_crop_at: now,
            first_seen: now,
            last_seen: now,
            frames: 5,
            reads: 5,
            agreeing_reads: 5,
            detector_score: 0.9,
        }
    }

    fn wait(what: &str, cond: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A confusable read hits, another does not; reads are stored with their crop; an entry
    /// added later finds the earlier read (retroactive, audited); the writer drains at the end.
    #[test]
    fn matches_stores_and_searches_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            AgencyStore::create(&Layout::new(dir.path()), "north", StoreOptions::default())
                .unwrap(),
        );
        let who = Access::new("test", "hotlist maintenance");
        let list = store
            .create_hotlist(
                &who,
                &Hotlist {
                    name: "stolen".into(),
                    description: String::new(),
                    covert: false,
                },
            )
            .unwrap();
        let entry = |plate: &str| StoredEntry {
            hotlist_id: list,
            plate: plate.into(),
            note: String::new(),
            covert: false,
            expires_at_ms: None,
        };
        let first = store.add_hotlist_entry(&who, &entry("AB12CDE")).unwrap();
        let start = || {
            let (tx, rx) = crossbeam_channel::bounded(16);
            let stats = Arc::new(WriterStats::default());
            let cfg = WriterConfig {
                batch: 8,
                batch_wait: Duration::from_millis(20),
                hotlist_refresh: Duration::from_millis(100),
                crop_quality: Some(85),
                matching: MatchConfig::default(),
            };
            let writer =
                Writer::start(rx, store.clone(), Hub::default(), cfg, stats.clone()).unwrap();
            (tx, stats, writer)
        };
        let (tx, stats, writer) = start();
        // "8" for "B": the OCR's confusion, still a hit.
        tx.send(pass("A812CDE", 1)).unwrap();
        tx.send(pass("XY99ZZZ", 2)).unwrap();
        // Hits are recorded after the batch's commit: wait for both.
        wait("two reads stored, one hit", || {
            stats.reads_stored.load(Ordering::Relaxed) == 2
                && stats.hits.load(Ordering::Relaxed) == 1
        });
        let hits = store.hits(0, u64::MAX).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].1.entry_id, first);
        assert_eq!(hits[0].1.plate, "A812CDE");
        let read = store.fetch_read(hits[0].1.read_id).unwrap().unwrap();
        assert_eq!(read.hit_flags, custos_store::HIT);
        let crop = image::load_from_memory(read.crop_jpeg.as_deref().unwrap()).unwrap();
        assert_eq!((crop.width(), crop.height()), (160, 48));

        // Added now: found in the stored reads within a refresh.
        store.add_hotlist_entry(&who, &entry("XY99ZZZ")).unwrap();
        wait("retroactive hit", || {
            stats.retro_hits.load(Ordering::Relaxed) == 1
        });
        assert_eq!(store.hits(0, u64::MAX).unwrap().len(), 2);
        let log = store.audit_log().unwrap();
        assert!(log.records.iter().any(|r| r.body.principal == "system"
            && r.body.reason == "hotlist retroactive search"
            && r.body.result_count == 1));

        // What is in the queue when the analysis stops is still written.
        tx.send(pass("QQ11QQQ", 3)).unwrap();
        drop(tx);
        writer.join();
        assert_eq!(stats.reads_stored.load(Ordering::Relaxed), 3);
        assert_eq!(stats.hits.load(Ordering::Relaxed), 2);
        assert_eq!(stats.store_errors.load(Ordering::Relaxed), 0);

        // An entry added while no writer runs is searched for when the next one starts; the
        // entries searched before are not searched again, then or at the start after.
        store.add_hotlist_entry(&who, &entry("QQ11QQQ")).unwrap();
        let restart = |expect_retro: u64| {
            let (tx, stats, writer) = start();
            wait("the hotlists read", || {
                stats.hotlist_entries.load(Ordering::Relaxed) == 3
            });
            // Longer than a refresh: a search that was due would have run by now.
            std::thread::sleep(Duration::from_millis(300));
            drop(tx);
            writer.join();
            assert_eq!(stats.retro_hits.load(Ordering::Relaxed), expect_retro);
        };
        restart(1);
        let hits = store.hits(0, u64::MAX).unwrap();
        assert_eq!(hits.len(), 3, "{hits:?}");
        assert!(hits.iter().any(|(_, h)| h.plate == "QQ11QQQ"));
        restart(0);
        assert_eq!(store.hits(0, u64::MAX).unwrap().len(), 3);
    }
}
