//! The store writer of `custos serve`: one thread that takes each vehicle pass from the
//! analysis, matches it against the agency's hotlists, stores it as a read (with its crop as
//! JPEG) in small batched commits, records the hits and publishes the read and the alerts to
//! the gRPC hub (`Reads.StreamLive`, `Hotlists.StreamAlerts`).
//!
//! The analysis hands passes over a bounded channel with `try_send`, so a writer that falls
//! behind (slow disk) loses passes there, counted by the analysis; it never stalls the
//! analysis. Store errors are logged with counts and the batch is dropped: the writer keeps
//! running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use custos::analysis::{GreyCrop, Pass};
use custos_grpc::{AlertEvent, Hub};
use custos_store::records::{HotlistEntry as StoredEntry, HotlistWithEntries};
use custos_store::{AgencyStore, NewRead, PlateCandidate, Read};
use custos_track::{HotlistEntry, MatchConfig, MatchKind, Matcher};

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

/// Counters, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub reads_stored: AtomicU64,
    pub commits: AtomicU64,
    pub store_errors: AtomicU64,
    pub reads_lost: AtomicU64,
    pub hits: AtomicU64,
    pub hit_errors: AtomicU64,
    pub hotlist_entries: AtomicU64,
    pub hotlist_errors: AtomicU64,
    pub crop_errors: AtomicU64,
    /// Hits found by retroactive searches (also in `hits`).
    pub retro_hits: AtomicU64,
    /// Pass handed over → read and alerts published, summed over reads (for the mean).
    pub publish_latency_us_sum: AtomicU64,
    pub publish_latency_us_max: AtomicU64,
}

impl WriterStats {
    /// Prometheus text (0.0.4) for these counters.
    pub fn render(&self, agency: &str) -> String {
        let l = format!("{{agency=\"{}\"}}", agency.replace(['\\', '"', '\n'], "_"));
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{l} {}\n",
                v.load(Ordering::Relaxed)
            ));
        };
        one(
            "custos_store_reads_total",
            "counter",
            "Reads stored.",
            &self.reads_stored,
        );
        one(
            "custos_store_commits_total",
            "counter",
            "Store commits of read batches.",
            &self.commits,
        );
        one(
            "custos_store_errors_total",
            "counter",
            "Read batches the store refused (their reads are lost).",
            &self.store_errors,
        );
        one(
            "custos_store_reads_lost_total",
            "counter",
            "Reads lost to store errors.",
            &self.reads_lost,
        );
        one(
            "custos_hotlist_hits_total",
            "counter",
            "Hotlist hits recorded and alerted.",
            &self.hits,
        );
        one(
            "custos_hotlist_hit_errors_total",
            "counter",
            "Hits the store could not record (still alerted).",
            &self.hit_errors,
        );
        one(
            "custos_hotlist_retroactive_hits_total",
            "counter",
            "Hits found in retained reads when an entry was added (also in custos_hotlist_hits_total).",
            &self.retro_hits,
        );
        one(
            "custos_hotlist_entries",
            "gauge",
            "Hotlist entries the matcher holds.",
            &self.hotlist_entries,
        );
        one(
            "custos_hotlist_refresh_errors_total",
            "counter",
            "Failed hotlist refreshes (the previous matcher stays).",
            &self.hotlist_errors,
        );
        one(
            "custos_crop_encode_errors_total",
            "counter",
            "Crops that could not be encoded (the read is stored without one).",
            &self.crop_errors,
        );
        one(
            "custos_publish_latency_max_microseconds",
            "gauge",
            "Longest time from a pass reaching the writer to its read and alerts being published.",
            &self.publish_latency_us_max,
        );
        one(
            "custos_publish_latency_sum_microseconds",
            "counter",
            "Sum of those times over the reads stored (divide by custos_store_reads_total).",
            &self.publish_latency_us_sum,
        );
        out
    }
}

/// What a matcher entry stands for in the store.
#[derive(Clone, Debug)]
struct EntryRef {
    hotlist_id: u64,
    hotlist_name: String,
    entry_id: u64,
    covert: bool,
}

/// The matcher built from the store's hotlists, rebuilt when their entries change.
struct Hotlists {
    matcher: Option<Matcher>,
    refs: Vec<EntryRef>,
    /// (entry id, expiry) of what the matcher was built from: a cheap change check.
    built_from: Vec<(u64, Option<u64>)>,
    /// None until the first refresh.
    checked: Option<Instant>,
    /// Entries up to this id have had their retroactive search (kept in the store, so entries
    /// added while serve was down are searched at the next start). None until first read.
    searched_through: Option<u64>,
}

impl Hotlists {
    fn new() -> Self {
        Self {
            matcher: None,
            refs: Vec::new(),
            built_from: Vec::new(),
            checked: None,
            searched_through: None,
        }
    }

    /// Re-reads the hotlists; rebuilds the matcher if their entries changed. Returns the live
    /// entries not yet searched for retroactively (see [`Hotlists::searched`]): those added
    /// since the previous build, and at the first build those added while serve was down.
    fn refresh(
        &mut self,
        store: &AgencyStore,
        cfg: &WriterConfig,
        stats: &WriterStats,
    ) -> Vec<(EntryRef, HotlistEntry)> {
        self.checked = Some(Instant::now());
        let lists = match store.hotlists() {
            Ok(l) => l,
            Err(e) => {
                stats.hotlist_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot read the hotlists; keeping the previous ones");
                return Vec::new();
            }
        };
        let now = store.now_ms();
        let live = |e: &StoredEntry| e.expires_at_ms.is_none_or(|t| t > now);
        let mut ids: Vec<(u64, Option<u64>)> = lists
            .iter()
            .flat_map(|(_, _, es)| es.iter().filter(|(_, e)| live(e)))
            .map(|(id, e)| (*id, e.expires_at_ms))
            .collect();
        ids.sort_unstable();
        if ids == self.built_from && self.matcher.is_some() {
            return Vec::new();
        }
        let mut entries = Vec::with_capacity(ids.len());
        let mut refs = Vec::with_capacity(ids.len());
        for (list_id, list, es) in &lists {
            for (entry_id, e) in es.iter().filter(|(_, e)| live(e)) {
                let covert = list.covert || e.covert;
                match HotlistEntry::new(&e.plate, &list.name, covert, e.note.clone()) {
                    Ok(m) => {
                        entries.push(m);
                        refs.push(EntryRef {
                            hotlist_id: *list_id,
                            hotlist_name: list.name.clone(),
                            entry_id: *entry_id,
                            covert,
                        });
                    }
                    // The gRPC side normalises plates; an entry the matcher refuses (e.g. an
                    // empty plate) cannot match anything anyway.
                    Err(e) => {
                        tracing::warn!(entry = *entry_id, error = %e, "hotlist entry skipped")
                    }
                }
            }
        }
        let through = self.searched_through(store, &lists);
        let added: Vec<(EntryRef, HotlistEntry)> = refs
            .iter()
            .zip(&entries)
            .filter(|(r, _)| r.entry_id > through)
            .map(|(r, e)| (r.clone(), e.clone()))
            .collect();
        match Matcher::new(entries, cfg.matching.clone()) {
            Ok(m) => {
                stats
                    .hotlist_entries
                    .store(refs.len() as u64, Ordering::Relaxed);
                tracing::info!(entries = refs.len(), "hotlist matcher rebuilt");
                self.matcher = Some(m);
                self.refs = refs;
                self.built_from = ids;
                added
            }
            Err(e) => {
                stats.hotlist_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "cannot build the hotlist matcher");
                Vec::new()
            }
        }
    }

    /// The retroactive-search watermark. A store that has none yet (new, or from before the
    /// watermark existed) starts it at its newest entry: those were searched when added, or
    /// predate every read.
    fn searched_through(&mut self, store: &AgencyStore, lists: &[HotlistWithEntries]) -> u64 {
        if let Some(w) = self.searched_through {
            return w;
        }
        let w = match store.retro_searched_through() {
            Ok(Some(w)) => w,
            Ok(None) => {
                let newest = lists
                    .iter()
                    .flat_map(|(_, _, es)| es.iter().map(|(id, _)| *id))
                    .max()
                    .unwrap_or(0);
                self.searched(store, newest);
                newest
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the retroactive-search watermark");
                return u64::MAX;
            }
        };
        self.searched_through = Some(w);
        w
    }

    /// Records that the retroactive searches of entries up to `entry_id` are done.
    fn searched(&mut self, store: &AgencyStore, entry_id: u64) {
        if self.searched_through.is_some_and(|w| w >= entry_id) {
            return;
        }
        self.searched_through = Some(entry_id);
        if let Err(e) = store.set_retro_searched_through(entry_id) {
            tracing::warn!(error = %e, "cannot store the retroactive-search watermark");
        }
    }

    /// The entries a pass matches (its chosen text first, then its other candidates), one
    /// per entry, with the kind of match.
    fn matches(&self, pass: &Pass) -> Vec<(EntryRef, MatchKind)> {
        let Some(m) = &self.matcher else {
            return Vec::new();
        };
        let texts = std::iter::once(pass.text.as_str())
            .chain(pass.candidates.iter().map(|c| c.text.as_str()))
            .filter(|t| !t.is_empty());
        m.match_texts(texts)
            .into_iter()
            .filter_map(|h| Some((self.refs.get(h.entry_index)?.clone(), h.kind)))
            .collect()
    }
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

/// How soon a hotlist change made through the API reaches the matcher.
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
    let mut generation = hub.hotlists_generation();
    loop {
        // (Not `Instant::now() - refresh` at start: that underflows on a freshly booted box.)
        let since = hotlists.checked.map(|t| t.elapsed());
        let changed = hub.hotlists_generation();
        // A burst of API changes (entries added one by one) costs one re-read per interval.
        let change_due = changed != generation && since.is_none_or(|d| d >= HOTLIST_CHANGE_CHECK);
        if since.is_none_or(|d| d >= cfg.hotlist_refresh) || change_due {
            generation = changed;
            let added = hotlists.refresh(store, cfg, stats);
            if let Some(newest) = added.iter().map(|(r, _)| r.entry_id).max() {
                retroactive(&added, store, hub, cfg, stats);
                hotlists.searched(store, newest);
            }
        }
        // Wait for the first pass of a batch at most until the next hotlist refresh is due,
        // and briefly enough to notice a change made through the API.
        let first_wait = cfg
            .hotlist_refresh
            .saturating_sub(hotlists.checked.map_or(Duration::ZERO, |t| t.elapsed()))
            .clamp(Duration::from_millis(10), HOTLIST_CHANGE_CHECK);
        match passes.recv_timeout(first_wait) {
            Ok(p) => batch.push((p, Instant::now())),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let deadline = Instant::now() + cfg.batch_wait;
        let mut closed = false;
        while batch.len() < cfg.batch {
            match passes.recv_deadline(deadline) {
                Ok(p) => batch.push((p, Instant::now())),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
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

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn jpeg(crop: &GreyCrop, quality: u8) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    image::ImageEncoder::write_image(
        enc,
        &crop.pixels,
        crop.width,
        crop.height,
        image::ExtendedColorType::L8,
    )
    .ok()?;
    Some(out)
}

fn write_batch(
    batch: &mut Vec<(Pass, Instant)>,
    store: &AgencyStore,
    hub: &Hub,
    cfg: &WriterConfig,
    stats: &WriterStats,
    hotlists: &Hotlists,
) {
    if batch.is_empty() {
        return;
    }
    let matched: Vec<Vec<(EntryRef, MatchKind)>> =
        batch.iter().map(|(p, _)| hotlists.matches(p)).collect();
    let reads: Vec<NewRead> = batch
        .iter()
        .zip(&matched)
        .map(|((p, _), m)| {
            let crop_jpeg = cfg.crop_quality.and_then(|q| {
                let j = jpeg(&p.best_crop, q);
                if j.is_none() {
                    stats.crop_errors.fetch_add(1, Ordering::Relaxed);
                }
                j
            });
            let q = p.best_quad;
            NewRead {
                camera: p.camera.clone(),
                // The crop's frame: the stored crop, box and time describe the same moment.
                captured_at_ms: ms(p.best_crop_at),
                plate: p.text.clone(),
                confidence: p.confidence,
                char_confidences: p.char_confidences.clone(),
                candidates: p
                    .candidates
                    .iter()
                    .map(|c| PlateCandidate {
                        text: c.text.clone(),
                        score: c.score,
                    })
                    .collect(),
                plate_box: [
                    q[0][0], q[0][1], q[1][0], q[1][1], q[2][0], q[2][1], q[3][0], q[3][1],
                ],
                crop_jpeg,
                context_jpeg: None,
                track_id: p.track_id,
                hit_flags: if m.is_empty() { 0 } else { custos_store::HIT },
            }
        })
        .collect();
    let ids = match store.ingest(&reads) {
        Ok(ids) => ids,
        Err(e) => {
            stats.store_errors.fetch_add(1, Ordering::Relaxed);
            stats
                .reads_lost
                .fetch_add(reads.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, reads = reads.len(), "cannot store a batch of reads");
            batch.clear();
            return;
        }
    };
    stats.commits.fetch_add(1, Ordering::Relaxed);
    stats
        .reads_stored
        .fetch_add(ids.len() as u64, Ordering::Relaxed);
    let agency = store.agency().to_owned();
    for ((((_, arrived), new), id), hits) in batch.iter().zip(reads).zip(ids).zip(matched) {
        let read = Read {
            id,
            camera: new.camera.as_str().to_owned(),
            captured_at_ms: new.captured_at_ms,
            plate: custos_core::normalize_plate(&new.plate),
            confidence: new.confidence,
            char_confidences: new.char_confidences,
            candidates: new.candidates,
            plate_box: new.plate_box,
            crop_jpeg: new.crop_jpeg,
            context_jpeg: None,
            track_id: new.track_id,
            hit_flags: new.hit_flags,
            held: false,
        };
        for (entry, kind) in hits {
            record_and_alert(store, hub, stats, &read, &entry, &kind, false);
        }
        hub.publish_read(&agency, read);
        let us = u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats
            .publish_latency_us_sum
            .fetch_add(us, Ordering::Relaxed);
        stats
            .publish_latency_us_max
            .fetch_max(us, Ordering::Relaxed);
    }
    batch.clear();
}

/// Entries added to a hotlist are searched for in the retained reads: each search is audited
/// (principal "system", reason "hotlist retroactive search"; the addition itself is audited
/// under the principal who made it), and each read it matches, by the same rules as live
/// matching, becomes a hit and an alert (its `captured_at_ms` shows it is from the past).
/// Reads stored from now on are matched live, so nothing is reported twice.
fn retroactive(
    added: &[(EntryRef, HotlistEntry)],
    store: &AgencyStore,
    hub: &Hub,
    cfg: &WriterConfig,
    stats: &WriterStats,
) {
    let access = custos_store::Access::system("hotlist retroactive search");
    // The store's fuzzy search finds every candidate the matcher could accept (confusable
    // substitutions are substitutions); the matcher then decides, as for a live read.
    let edits = cfg
        .matching
        .max_confusable
        .max(cfg.matching.max_substitutions)
        .saturating_add(usize::from(cfg.matching.allow_indel))
        .min(2);
    let now = store.now_ms();
    for (entry, m) in added {
        let query = if edits == 0 {
            custos_store::PlateQuery::Exact {
                plate: m.plate.clone(),
            }
        } else {
            custos_store::PlateQuery::Fuzzy {
                plate: m.plate.clone(),
                max_edits: edits as u8,
            }
        };
        let search = custos_store::Search {
            query,
            from_ms: 0,
            to_ms: now,
            limit: RETRO_LIMIT,
        };
        let found = match store.search(&access, &search) {
            Ok(r) => r,
            Err(e) => {
                stats.hotlist_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, entry = entry.entry_id, "retroactive search failed");
                continue;
            }
        };
        let Ok(one) = Matcher::new(vec![m.clone()], cfg.matching.clone()) else {
            continue;
        };
        let mut hits = 0u64;
        for read in found.reads {
            let texts = std::iter::once(read.plate.as_str())
                .chain(read.candidates.iter().map(|c| c.text.as_str()));
            let Some(kind) = one.match_texts(texts).into_iter().next().map(|h| h.kind) else {
                continue;
            };
            record_and_alert(store, hub, stats, &read, entry, &kind, true);
            hits += 1;
        }
        stats.retro_hits.fetch_add(hits, Ordering::Relaxed);
        tracing::info!(
            entry = entry.entry_id,
            hits,
            truncated = found.truncated,
            "retroactive search"
        );
    }
}

/// Records a hit of `read` on `entry` and publishes its alert. The alert goes out even when
/// recording fails: a control room must hear of it even if the disk is failing.
fn record_and_alert(
    store: &AgencyStore,
    hub: &Hub,
    stats: &WriterStats,
    read: &Read,
    entry: &EntryRef,
    kind: &MatchKind,
    retroactive: bool,
) {
    let hit = custos_store::records::Hit {
        read_id: read.id,
        hotlist_id: entry.hotlist_id,
        entry_id: entry.entry_id,
        plate: read.plate.clone(),
        camera: read.camera.clone(),
        captured_at_ms: read.captured_at_ms,
    };
    if let Err(e) = store.record_hit(&hit) {
        stats.hit_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, read = read.id.0, "cannot record a hotlist hit");
    }
    stats.hits.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        read = read.id.0,
        hotlist = entry.hotlist_id,
        entry = entry.entry_id,
        kind = kind_name(kind),
        retroactive,
        "hotlist hit"
    );
    hub.publish_alert(AlertEvent {
        agency: store.agency().to_owned(),
        read_id: read.id.0,
        hotlist_id: entry.hotlist_id,
        hotlist_name: entry.hotlist_name.clone(),
        entry_id: entry.entry_id,
        plate: read.plate.clone(),
        camera: read.camera.clone(),
        captured_at_ms: read.captured_at_ms,
        covert: entry.covert,
        match_kind: kind_name(kind).into(),
        retroactive,
    });
}

/// Most reads one retroactive search returns (the newest first is not guaranteed: a plate
/// seen more often than this is reported in part, and the log says so).
const RETRO_LIMIT: usize = 1000;

/// The match kind as logs and metrics name it.
pub fn kind_name(kind: &MatchKind) -> &'static str {
    match kind {
        MatchKind::Exact => "exact",
        MatchKind::Confusable { .. } => "confusable",
        MatchKind::EditDistance { .. } => "edit_distance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_store::records::Hotlist;
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
            best_crop: GreyCrop {
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
