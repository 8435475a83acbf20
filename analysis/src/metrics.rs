//! Plain counters the stages bump (atomics, no locks on the hot path), a snapshot of them, and
//! the Prometheus text rendering that `/metrics` will serve.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use custos_core::CameraId;
use custos_pipeline::CameraStatus;
use custos_track::DropReason;
use serde::Serialize;

use crate::prometheus;

const RELAXED: Ordering = Ordering::Relaxed;

/// Upper bounds (seconds) of the latency histograms' buckets: fine around the 300 ms frame→read
/// target, coarse beyond.
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0,
    10.0,
];

/// A fixed-bucket latency histogram, as Prometheus wants it.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is +Inf.
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, RELAXED);
        self.sum_ns
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), RELAXED);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(RELAXED)).collect();
        HistogramSnapshot {
            count: counts.iter().sum(),
            sum_s: self.sum_ns.load(RELAXED) as f64 / 1e9,
            counts,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HistogramSnapshot {
    pub count: u64,
    pub sum_s: f64,
    /// Per bucket of [`LATENCY_BUCKETS`] plus +Inf, not cumulative.
    pub counts: Vec<u64>,
}

impl HistogramSnapshot {
    /// The upper bound of the bucket holding quantile `q` (0–1): an over-estimate within one
    /// bucket. `None` with no observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }

    /// The observations made after `earlier` (a snapshot of the same histogram).
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| c.saturating_sub(earlier.counts.get(i).copied().unwrap_or(0)))
            .collect();
        HistogramSnapshot {
            count: counts.iter().sum(),
            sum_s: (self.sum_s - earlier.sum_s).max(0.0),
            counts,
        }
    }

    pub fn mean_s(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_s / self.count as f64)
    }
}

/// One camera's counters.
#[derive(Debug, Default)]
pub struct CameraCounters {
    frames_in: AtomicU64,
    frames_analysed: AtomicU64,
    frames_failed: AtomicU64,
    candidates: AtomicU64,
    candidates_outside_roi: AtomicU64,
    reads: AtomicU64,
    passes: AtomicU64,
    passes_dropped: AtomicU64,
    passes_short: AtomicU64,
    passes_merged: AtomicU64,
    active_tracks: AtomicU64,
    tracks_dropped: AtomicU64,
    /// Per [`TRACK_DROP_REASONS`]: the tracker's running totals.
    tracks_dropped_by: [AtomicU64; TRACK_DROP_REASONS.len()],
    /// Per [`DropReason::ALL`]: passes the storage gate kept out.
    passes_gated: [AtomicU64; DropReason::ALL.len()],
}

/// The tracker's reasons for ending a track without a pass, as `reason` labels.
const TRACK_DROP_REASONS: [&str; 4] = ["few_frames", "low_confidence", "no_text", "over_capacity"];

/// The stages' per-camera events, named for what happened (the counters stay private to the
/// snapshot).
impl CameraCounters {
    /// A frame arrived from ingest.
    pub fn frame_in(&self) {
        self.frames_in.fetch_add(1, RELAXED);
    }
    /// A frame could not be localised (a bad plane, a failed kernels batch).
    pub fn frame_failed(&self) {
        self.frames_failed.fetch_add(1, RELAXED);
    }
    /// A frame was localised and gave `candidates` plate candidates.
    pub fn frame_analysed(&self, candidates: usize) {
        self.frames_analysed.fetch_add(1, RELAXED);
        self.candidates.fetch_add(candidates as u64, RELAXED);
    }
    /// A candidate's centre lay outside the camera's region of interest.
    pub fn candidate_outside_roi(&self) {
        self.candidates_outside_roi.fetch_add(1, RELAXED);
    }
    /// A frame's candidates gave `n` reads (one per plate).
    pub fn reads(&self, n: usize) {
        self.reads.fetch_add(n as u64, RELAXED);
    }
    /// The tracker's state after a frame: open tracks and the tracks it dropped so far.
    pub fn tracker(&self, active: usize, stats: &custos_track::TrackerStats) {
        self.active_tracks.store(active as u64, RELAXED);
        let by_reason = [
            stats.dropped_min_frames,
            stats.dropped_min_confidence,
            stats.dropped_no_text,
            stats.dropped_over_capacity,
        ];
        for (counter, n) in self.tracks_dropped_by.iter().zip(by_reason) {
            counter.store(n, RELAXED);
        }
        self.tracks_dropped.store(by_reason.iter().sum(), RELAXED);
    }
    /// The storage gate kept a pass out of the store.
    pub fn pass_gated(&self, reason: DropReason) {
        self.passes_gated[reason.index()].fetch_add(1, RELAXED);
    }
    /// A pass was folded into an earlier one of the same plate (a split track).
    pub fn pass_merged(&self) {
        self.passes_merged.fetch_add(1, RELAXED);
    }
    /// A pass's text was shorter than `min_pass_chars`.
    pub fn pass_too_short(&self) {
        self.passes_short.fetch_add(1, RELAXED);
    }
    /// A pass went to the sink (`accepted`), or the sink's queue was full.
    pub fn pass_handed_on(&self, accepted: bool) {
        let counter = if accepted {
            &self.passes
        } else {
            &self.passes_dropped
        };
        counter.fetch_add(1, RELAXED);
    }
}

impl CameraCounters {
    /// Every reason a read did not reach the store, with its count.
    fn reads_dropped(&self) -> BTreeMap<&'static str, u64> {
        let tracker = TRACK_DROP_REASONS.iter().zip(&self.tracks_dropped_by);
        let gate = DropReason::ALL
            .iter()
            .map(|r| r.label())
            .zip(&self.passes_gated);
        std::iter::once(("too_short", &self.passes_short))
            .chain(tracker.map(|(r, c)| (*r, c)))
            .chain(gate)
            .map(|(r, c)| (r, c.load(RELAXED)))
            .collect()
    }
}

/// Every counter of one running analysis.
#[derive(Debug)]
pub struct Metrics {
    pub(crate) started: Instant,
    pub(crate) backend: String,
    pub(crate) provider: String,
    pub(crate) ids: Vec<CameraId>,
    pub(crate) cameras: Vec<CameraCounters>,
    pub frames_unknown_camera: AtomicU64,
    pub kernel_batches: AtomicU64,
    pub kernel_frames: AtomicU64,
    pub kernel_errors: AtomicU64,
    pub kernel_time: Histogram,
    /// Candidates that found no slot in the kernels' crop buffer.
    pub candidates_unbuffered: AtomicU64,
    pub ocr_batches: AtomicU64,
    pub ocr_crops: AtomicU64,
    pub ocr_errors: AtomicU64,
    pub ocr_crops_dropped: AtomicU64,
    pub ocr_time: Histogram,
    /// From a frame's receipt by the ingest to its crops read (frames with candidates).
    pub frame_to_read: Histogram,
}

impl Metrics {
    pub(crate) fn new(ids: Vec<CameraId>, backend: String, provider: String) -> Self {
        Self {
            started: Instant::now(),
            backend,
            provider,
            cameras: ids.iter().map(|_| CameraCounters::default()).collect(),
            ids,
            frames_unknown_camera: AtomicU64::default(),
            kernel_batches: AtomicU64::default(),
            kernel_frames: AtomicU64::default(),
            kernel_errors: AtomicU64::default(),
            kernel_time: Histogram::default(),
            candidates_unbuffered: AtomicU64::default(),
            ocr_batches: AtomicU64::default(),
            ocr_crops: AtomicU64::default(),
            ocr_errors: AtomicU64::default(),
            ocr_crops_dropped: AtomicU64::default(),
            ocr_time: Histogram::default(),
            frame_to_read: Histogram::default(),
        }
    }

    pub(crate) fn camera(&self, index: usize) -> &CameraCounters {
        &self.cameras[index]
    }

    pub(crate) fn snapshot(&self, queues: QueueDepths) -> MetricsSnapshot {
        MetricsSnapshot {
            uptime_s: self.started.elapsed().as_secs_f64(),
            backend: self.backend.clone(),
            provider: self.provider.clone(),
            cameras: self
                .ids
                .iter()
                .zip(&self.cameras)
                .map(|(id, c)| CameraSnapshot {
                    camera: id.clone(),
                    frames_in: c.frames_in.load(RELAXED),
                    frames_analysed: c.frames_analysed.load(RELAXED),
                    frames_failed: c.frames_failed.load(RELAXED),
                    candidates: c.candidates.load(RELAXED),
                    candidates_outside_roi: c.candidates_outside_roi.load(RELAXED),
                    reads: c.reads.load(RELAXED),
                    passes: c.passes.load(RELAXED),
                    passes_dropped: c.passes_dropped.load(RELAXED),
                    passes_short: c.passes_short.load(RELAXED),
                    passes_merged: c.passes_merged.load(RELAXED),
                    active_tracks: c.active_tracks.load(RELAXED),
                    tracks_dropped: c.tracks_dropped.load(RELAXED),
                    reads_dropped: c.reads_dropped(),
                })
                .collect(),
            queues,
            frames_unknown_camera: self.frames_unknown_camera.load(RELAXED),
            kernel_batches: self.kernel_batches.load(RELAXED),
            kernel_frames: self.kernel_frames.load(RELAXED),
            kernel_errors: self.kernel_errors.load(RELAXED),
            kernel_time: self.kernel_time.snapshot(),
            candidates_unbuffered: self.candidates_unbuffered.load(RELAXED),
            ocr_batches: self.ocr_batches.load(RELAXED),
            ocr_crops: self.ocr_crops.load(RELAXED),
            ocr_errors: self.ocr_errors.load(RELAXED),
            ocr_crops_dropped: self.ocr_crops_dropped.load(RELAXED),
            ocr_time: self.ocr_time.snapshot(),
            frame_to_read: self.frame_to_read.snapshot(),
        }
    }
}

/// Items waiting in each queue at snapshot time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct QueueDepths {
    pub frames: usize,
    pub ocr_frames: usize,
    pub ocr_crops: usize,
    pub tracker: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraSnapshot {
    pub camera: CameraId,
    /// Frames the analysis took from the frame queue.
    pub frames_in: u64,
    /// Frames localised (and their crops read).
    pub frames_analysed: u64,
    /// Frames the kernels could not process (bad plane, backend error).
    pub frames_failed: u64,
    pub candidates: u64,
    /// Candidates ignored because their centre lies outside the camera's region of interest.
    pub candidates_outside_roi: u64,
    /// Candidates the OCR read some text in.
    pub reads: u64,
    /// Vehicle passes handed to the sink.
    pub passes: u64,
    /// Passes the sink had no room for.
    pub passes_dropped: u64,
    /// Passes dropped because their text was shorter than `min_pass_chars`.
    pub passes_short: u64,
    /// Passes folded into an earlier pass of the same plate (a split track).
    pub passes_merged: u64,
    pub active_tracks: u64,
    /// Tracks ended without a pass (too few frames, too little confidence, too many tracks).
    pub tracks_dropped: u64,
    /// Why reads did not reach the store, per reason: the tracker's (`few_frames`, …), too
    /// short, and the storage gate's ([`DropReason::label`]).
    pub reads_dropped: BTreeMap<&'static str, u64>,
}

/// A point-in-time copy of every counter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    pub uptime_s: f64,
    /// The kernels backend and adapter, e.g. "native on 2 CPU threads".
    pub backend: String,
    /// The OCR execution provider.
    pub provider: String,
    pub cameras: Vec<CameraSnapshot>,
    pub queues: QueueDepths,
    pub frames_unknown_camera: u64,
    pub kernel_batches: u64,
    pub kernel_frames: u64,
    pub kernel_errors: u64,
    pub kernel_time: HistogramSnapshot,
    pub candidates_unbuffered: u64,
    pub ocr_batches: u64,
    pub ocr_crops: u64,
    pub ocr_errors: u64,
    pub ocr_crops_dropped: u64,
    pub ocr_time: HistogramSnapshot,
    pub frame_to_read: HistogramSnapshot,
}

/// Per-camera rates between two snapshots.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraRates {
    pub camera: CameraId,
    pub fps_in: f64,
    pub fps_analysed: f64,
    pub passes_per_s: f64,
}

impl MetricsSnapshot {
    /// Rates per camera from `earlier` to this snapshot.
    pub fn rates(&self, earlier: &MetricsSnapshot) -> Vec<CameraRates> {
        let dt = (self.uptime_s - earlier.uptime_s).max(1e-9);
        self.cameras
            .iter()
            .map(|c| {
                let before = earlier.cameras.iter().find(|e| e.camera == c.camera);
                let d = |f: fn(&CameraSnapshot) -> u64| (f(c) - before.map_or(0, f)) as f64 / dt;
                CameraRates {
                    camera: c.camera.clone(),
                    fps_in: d(|s| s.frames_in),
                    fps_analysed: d(|s| s.frames_analysed),
                    passes_per_s: d(|s| s.passes),
                }
            })
            .collect()
    }

    /// Mean crops per OCR batch and frames per kernels batch.
    pub fn mean_batches(&self) -> (f64, f64) {
        let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        (
            per(self.kernel_frames, self.kernel_batches),
            per(self.ocr_crops, self.ocr_batches),
        )
    }
}

/// Renders the analysis counters, and the ingest's per-camera status if given, in the
/// Prometheus text exposition format (version 0.0.4).
pub fn render(m: &MetricsSnapshot, ingest: &[CameraStatus]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        prometheus::family(&mut out, name, kind, help, samples)
    };
    let cam = |id: &CameraId| prometheus::labels(&[("camera", id.as_str())]);
    let none = String::new;

    family(
        "custos_analysis_info",
        "gauge",
        "The kernels backend and the OCR execution provider in use.",
        &[(
            prometheus::labels(&[("backend", &m.backend), ("provider", &m.provider)]),
            "1".into(),
        )],
    );
    if !ingest.is_empty() {
        type Field = fn(&CameraStatus) -> String;
        let ingest_families: [(&str, &str, &str, Field); 5] = [
            (
                "custos_frames_decoded_total",
                "counter",
                "Frames decoded.",
                |s| s.frames_decoded.to_string(),
            ),
            (
                "custos_frames_skipped_total",
                "counter",
                "Frames decoded but not analysed because of the analysis rate.",
                |s| s.frames_skipped.to_string(),
            ),
            (
                "custos_frames_dropped_total",
                "counter",
                "Frames lost because analysis was full (dropped at the source).",
                |s| s.frames_dropped.to_string(),
            ),
            (
                "custos_camera_reconnects_total",
                "counter",
                "Reconnections.",
                |s| s.reconnects.to_string(),
            ),
            (
                "custos_camera_decoded_fps",
                "gauge",
                "Decoded frames per second, recent.",
                |s| format!("{:.3}", s.fps),
            ),
        ];
        for (name, kind, help, f) in ingest_families {
            let samples: Vec<_> = ingest.iter().map(|s| (cam(&s.id), f(s))).collect();
            family(name, kind, help, &samples);
        }
        let up: Vec<_> = ingest
            .iter()
            .map(|s| {
                let streaming = s.state == custos_pipeline::CameraState::Streaming;
                (cam(&s.id), u8::from(streaming).to_string())
            })
            .collect();
        family(
            "custos_camera_streaming",
            "gauge",
            "1 while frames arrive from the camera.",
            &up,
        );
    }
    type CamField = fn(&CameraSnapshot) -> u64;
    let camera_families: [(&str, &str, &str, CamField); 12] = [
        (
            "custos_frames_in_total",
            "counter",
            "Frames the analysis took from the frame queue.",
            |c| c.frames_in,
        ),
        (
            "custos_frames_analysed_total",
            "counter",
            "Frames localised and read.",
            |c| c.frames_analysed,
        ),
        (
            "custos_frames_failed_total",
            "counter",
            "Frames the kernels could not process.",
            |c| c.frames_failed,
        ),
        (
            "custos_candidates_total",
            "counter",
            "Plate candidates found.",
            |c| c.candidates,
        ),
        (
            "custos_candidates_outside_roi_total",
            "counter",
            "Candidates outside the camera's region of interest, not read.",
            |c| c.candidates_outside_roi,
        ),
        (
            "custos_reads_total",
            "counter",
            "Candidates the OCR read text in.",
            |c| c.reads,
        ),
        (
            "custos_passes_total",
            "counter",
            "Vehicle passes (one read per pass) emitted.",
            |c| c.passes,
        ),
        (
            "custos_passes_dropped_total",
            "counter",
            "Passes lost because their consumer was full.",
            |c| c.passes_dropped,
        ),
        (
            "custos_passes_short_total",
            "counter",
            "Passes dropped for a text shorter than min_pass_chars.",
            |c| c.passes_short,
        ),
        (
            "custos_passes_merged_total",
            "counter",
            "Passes merged into an earlier pass of the same plate (split tracks).",
            |c| c.passes_merged,
        ),
        (
            "custos_tracks_dropped_total",
            "counter",
            "Tracks ended without a pass (too short, too unsure).",
            |c| c.tracks_dropped,
        ),
        ("custos_active_tracks", "gauge", "Open tracks.", |c| {
            c.active_tracks
        }),
    ];
    for (name, kind, help, f) in camera_families {
        let samples: Vec<_> = m
            .cameras
            .iter()
            .map(|c| (cam(&c.camera), f(c).to_string()))
            .collect();
        family(name, kind, help, &samples);
    }
    let dropped: Vec<_> = m
        .cameras
        .iter()
        .flat_map(|c| {
            c.reads_dropped.iter().map(|(reason, n)| {
                let labels =
                    prometheus::labels(&[("camera", c.camera.as_str()), ("reason", reason)]);
                (labels, n.to_string())
            })
        })
        .collect();
    family(
        "custos_reads_dropped_total",
        "counter",
        "Vehicle passes kept out of the store, by reason: the tracker's (few_frames, \
         low_confidence, no_text, over_capacity), too_short, and the storage gate's.",
        &dropped,
    );
    let q = m.queues;
    family(
        "custos_queue_depth",
        "gauge",
        "Items waiting in each analysis queue.",
        &[
            ("{queue=\"frames\"}".into(), q.frames.to_string()),
            ("{queue=\"ocr_frames\"}".into(), q.ocr_frames.to_string()),
            ("{queue=\"ocr_crops\"}".into(), q.ocr_crops.to_string()),
            ("{queue=\"tracker\"}".into(), q.tracker.to_string()),
        ],
    );
    let scalars: [(&str, &str, u64); 9] = [
        (
            "custos_frames_unknown_camera_total",
            "Frames from cameras the analysis was not started with.",
            m.frames_unknown_camera,
        ),
        (
            "custos_kernel_batches_total",
            "Kernels calls.",
            m.kernel_batches,
        ),
        (
            "custos_kernel_batch_frames_total",
            "Frames in all kernels calls (÷ batches = mean batch size).",
            m.kernel_frames,
        ),
        (
            "custos_kernel_errors_total",
            "Kernels calls that failed.",
            m.kernel_errors,
        ),
        (
            "custos_candidates_unbuffered_total",
            "Candidates with no room in the crop buffer.",
            m.candidates_unbuffered,
        ),
        ("custos_ocr_batches_total", "OCR inferences.", m.ocr_batches),
        (
            "custos_ocr_batch_crops_total",
            "Crops in all OCR inferences (÷ batches = mean batch size).",
            m.ocr_crops,
        ),
        (
            "custos_ocr_errors_total",
            "OCR inferences that failed.",
            m.ocr_errors,
        ),
        (
            "custos_ocr_crops_dropped_total",
            "Crops dropped because OCR fell behind.",
            m.ocr_crops_dropped,
        ),
    ];
    for (name, help, v) in scalars {
        family(name, "counter", help, &[(none(), v.to_string())]);
    }
    for (name, help, h) in [
        (
            "custos_kernel_seconds",
            "Time per kernels call.",
            &m.kernel_time,
        ),
        (
            "custos_ocr_seconds",
            "Time per OCR inference (OCR latency).",
            &m.ocr_time,
        ),
        (
            "custos_frame_to_read_seconds",
            "From a frame's receipt by the ingest to its plate crops read.",
            &m.frame_to_read,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in h.counts.iter().enumerate() {
            cumulative += c;
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum {}", h.sum_s);
        let _ = writeln!(out, "{name}_count {}", h.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_quantiles() {
        let h = Histogram::default();
        for ms in [1, 3, 3, 40, 17_000] {
            h.observe(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.counts[0], 1); // ≤ 1 ms
        assert_eq!(s.counts[2], 2); // ≤ 5 ms
        assert_eq!(s.counts[5], 1); // ≤ 50 ms
        assert_eq!(s.counts[LATENCY_BUCKETS.len()], 1); // +Inf
        assert_eq!(s.quantile(0.5), Some(0.005));
        assert_eq!(s.quantile(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn renders_prometheus_text() {
        let id = CameraId::new("gate-1").unwrap();
        let m = Metrics::new(vec![id], "native".into(), "cpu".into());
        (0..7).for_each(|_| m.camera(0).frame_in());
        m.ocr_time.observe(Duration::from_millis(2));
        let text = render(&m.snapshot(QueueDepths::default()), &[]);
        assert!(text.contains("custos_frames_in_total{camera=\"gate-1\"} 7\n"));
        assert!(text.contains("custos_analysis_info{backend=\"native\",provider=\"cpu\"} 1\n"));
        assert!(text.contains("custos_ocr_seconds_bucket{le=\"0.0025\"} 1\n"));
        assert!(text.contains("custos_ocr_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("custos_ocr_seconds_count 1\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.rsplit(' ').count(), 2, "{line}");
        }
    }
}
