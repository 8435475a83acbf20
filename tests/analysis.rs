//! The analysis engine on real components: `custos testcam` processes with a ground-truth
//! sidecar, the real ingest, the native kernels with the committed detector, the committed OCR
//! model on the CPU provider, and the trackers. No mocks.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use custos_analysis::{self, AnalysedCamera, Analysis, AnalysisConfig, Backend, FrameReads, Pass};
use custos_pipeline::testcam::GroundTruth;

/// The committed OCR model on the CPU provider.
fn ocr_config() -> custos_ocr::OcrConfig {
    custos_ocr::OcrConfig {
        providers: Some(vec![custos_ocr::Provider::Cpu]),
        ..Default::default()
    }
}

fn native_config() -> AnalysisConfig {
    AnalysisConfig {
        backend: Backend::Native,
        detect_threshold: env_f64("CUSTOS_E2E_THRESHOLD", 0.3) as f32,
        crop_margin: env_f64("CUSTOS_E2E_MARGIN", 0.05) as f32,
        tracker: custos_track::TrackerConfig {
            min_confidence: env_f64("CUSTOS_E2E_MIN_CONF", 0.1) as f32,
            ..Default::default()
        },
        ..AnalysisConfig::default()
    }
}

/// The tests of this file each load the CPU fully: run them one at a time, or the accuracy
/// test would measure the other test's load.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// One ground-truth pass in wall-clock milliseconds.
struct Truth {
    camera: String,
    plate: String,
    start_ms: f64,
    end_ms: f64,
    frames: usize,
    max_width: u32,
    /// (time ms, box x, y, w, h)
    boxes: Vec<(f64, [f32; 4])>,
}

fn load_truth(path: &std::path::Path) -> Vec<Truth> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<GroundTruth>(l).ok())
        .map(|g| {
            let at = |f: u64| g.epoch_ms as f64 + f as f64 * 1000.0 / f64::from(g.fps);
            Truth {
                start_ms: at(g.pass.first_frame),
                end_ms: at(g.pass.last_frame),
                frames: g.pass.boxes.len(),
                max_width: g.pass.boxes.iter().map(|b| b.w).max().unwrap_or(0),
                boxes: g
                    .pass
                    .boxes
                    .iter()
                    .map(|b| {
                        (
                            at(b.frame),
                            [b.x as f32, b.y as f32, b.w as f32, b.h as f32],
                        )
                    })
                    .collect(),
                camera: g.camera,
                plate: g.pass.plate,
            }
        })
        .collect()
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let (x0, y0) = (a[0].max(b[0]), a[1].max(b[1]));
    let (x1, y1) = (
        (a[0] + a[2]).min(b[0] + b[2]),
        (a[1] + a[3]).min(b[1] + b[3]),
    );
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Four test cameras at 360p through ingest and analysis; the passes are compared with the
/// ground truth: share read exactly, duplicates, and for every miss whether the detector, the
/// OCR or the tracker lost it.
#[test]
fn four_cameras_one_exact_read_per_vehicle_pass() {
    let _serial = one_at_a_time();
    let seconds = env_f64("CUSTOS_E2E_SECONDS", 30.0);
    let analysis_fps = env_f64("CUSTOS_E2E_FPS", 8.0);
    let dir = tempfile::tempdir().unwrap();
    let truth_path = dir.path().join("truth.jsonl");
    let truth_arg = truth_path.to_str().unwrap().to_string();
    let cam = TestCam::start_with(4, free_port(), &["--ground-truth", &truth_arg], &[]);
    let cameras: Vec<_> = cam
        .urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut c = camera(&format!("cam{i}"), u);
            c.analysis_fps = analysis_fps;
            c
        })
        .collect();
    let ids: Vec<AnalysedCamera> = cameras.iter().map(AnalysedCamera::from).collect();
    let config = native_config();
    let (localizer, recognizer) = custos_analysis::open_engines(&config, &ocr_config()).unwrap();
    let (pass_tx, pass_rx) = crossbeam_channel::bounded::<Pass>(10_000);
    let (tap_tx, tap_rx) = crossbeam_channel::bounded::<FrameReads>(100_000);
    let analysis =
        Analysis::start_with_tap(&ids, &config, localizer, recognizer, pass_tx, Some(tap_tx))
            .unwrap();
    init_logs();
    let ingest = custos_pipeline::Ingest::start(cameras, analysis.frames()).unwrap();
    wait_all_streaming(&ingest);
    // Passes already under way when the streams started are not all seen: count from here.
    let window_start = ms(SystemTime::now()) + 500.0;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let window_end = ms(SystemTime::now()) - 2000.0;
    let status = ingest.status();
    ingest.stop();
    let stopping = Instant::now();
    let metrics = analysis.stop();
    let stop_took = stopping.elapsed();
    let passes: Vec<Pass> = pass_rx.try_iter().collect();
    let taps: Vec<FrameReads> = tap_rx.try_iter().collect();
    drop(cam);

    let all_truth = load_truth(&truth_path);
    let truth: Vec<&Truth> = all_truth
        .iter()
        .filter(|t| t.start_ms >= window_start && t.end_ms <= window_end)
        .collect();
    let report = compare(
        &truth,
        &all_truth,
        (window_start, window_end),
        &passes,
        &taps,
    );
    let (kb, ob) = metrics.mean_batches();
    eprintln!(
        "analysis: {} passes, {} truth passes in the window; exact {}/{} = {:.1} %, duplicates {}, \
         junk passes {}; misses: detector {}, ocr {}, tracker {}; offset {:.0} ms",
        passes.len(),
        truth.len(),
        report.exact,
        truth.len(),
        100.0 * report.exact as f64 / truth.len().max(1) as f64,
        report.duplicates,
        report.unmatched,
        report.lost_detector,
        report.lost_ocr,
        report.lost_tracker,
        report.offset_ms,
    );
    for s in &status {
        let c = metrics.cameras.iter().find(|c| c.camera == s.id).unwrap();
        eprintln!(
            "  {}: decoded {} analysed {} skipped {} dropped {} candidates {} reads {} passes {} tracks dropped {}",
            s.id,
            s.frames_decoded,
            c.frames_analysed,
            s.frames_skipped,
            s.frames_dropped,
            c.candidates,
            c.reads,
            c.passes,
            c.tracks_dropped
        );
    }
    eprintln!(
        "  kernels: {} batches, {kb:.2} frames/batch, mean {:.1} ms; OCR: {} batches, {ob:.2} crops/batch, mean {:.1} ms; frame→read p99 ≤ {:?} s; stop took {stop_took:?}",
        metrics.kernel_batches,
        metrics.kernel_time.mean_s().unwrap_or(0.0) * 1e3,
        metrics.ocr_batches,
        metrics.ocr_time.mean_s().unwrap_or(0.0) * 1e3,
        metrics.frame_to_read.quantile(0.99),
    );
    for line in &report.misses {
        eprintln!("  miss: {line}");
    }

    assert!(
        truth.len() >= 8,
        "too few vehicle passes to judge: {}",
        truth.len()
    );
    assert!(metrics.kernel_errors == 0 && metrics.ocr_errors == 0);
    let share = report.exact as f64 / truth.len() as f64;
    // Measured 90–97 % (25 s and 60 s runs, 2 cores shared with two training runs); the
    // detector is being retrained, so the floor leaves room for a few more misses.
    let floor = env_f64("CUSTOS_E2E_FLOOR", 0.85);
    assert!(
        share >= floor,
        "exact-read share {share:.3} below the floor {floor}"
    );
    assert_eq!(report.duplicates, 0, "vehicle passes read more than once");
    assert!(
        report.unmatched <= truth.len() / 10,
        "{} passes match no vehicle",
        report.unmatched
    );
    assert!(
        stop_took < Duration::from_secs(10),
        "stop took {stop_took:?}"
    );
}

#[derive(Default)]
struct Report {
    exact: usize,
    duplicates: usize,
    unmatched: usize,
    lost_detector: usize,
    lost_ocr: usize,
    lost_tracker: usize,
    offset_ms: f64,
    misses: Vec<String>,
}

/// `truth`: the passes judged (inside the window); `all_truth`: every pass the cameras made,
/// to tell junk passes (matching no vehicle at all) from those of vehicles outside the window.
fn compare(
    truth: &[&Truth],
    all_truth: &[Truth],
    window: (f64, f64),
    passes: &[Pass],
    taps: &[FrameReads],
) -> Report {
    let mut r = Report::default();
    // Our frame times run behind the renderer's by the encode/jitter-buffer latency: estimate
    // it from the passes whose text is exactly right.
    let mut offsets: Vec<f64> = Vec::new();
    for t in truth {
        for p in passes
            .iter()
            .filter(|p| p.camera.as_str() == t.camera && p.text == t.plate)
        {
            offsets.push(ms(p.first_seen) - t.start_ms);
        }
    }
    offsets.sort_by(f64::total_cmp);
    r.offset_ms = offsets.get(offsets.len() / 2).copied().unwrap_or(0.0);
    let tolerance = 1000.0;
    let near = |p: &Pass, t: &Truth| {
        p.camera.as_str() == t.camera
            && ms(p.first_seen) - r.offset_ms <= t.end_ms + tolerance
            && ms(p.last_seen) - r.offset_ms >= t.start_ms - tolerance
            && custos_track::similarity(&p.text, &t.plate) >= 0.5
    };
    // Detector scores of candidates on a plate and off any plate (for tuning the threshold).
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for f in taps {
        let at = ms(f.at) - r.offset_ms;
        for (c, text, _) in &f.reads {
            let b = c.bbox();
            let b = [b[0], b[1], b[2] - b[0], b[3] - b[1]];
            let hit = truth
                .iter()
                .filter(|t| t.camera == f.camera.as_str())
                .any(|t| {
                    t.boxes
                        .iter()
                        .any(|(bt, gt)| (bt - at).abs() < 70.0 && iou(b, *gt) >= 0.2)
                });
            if hit {
                on.push((c.score, !text.is_empty()))
            } else {
                off.push((c.score, !text.is_empty()))
            }
        }
    }
    for (name, v) in [("on plates", &mut on), ("off plates", &mut off)] {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let q = |p: f64| {
            v.get(((v.len() as f64 - 1.0) * p) as usize)
                .map_or(0.0, |x| x.0)
        };
        let read = v.iter().filter(|x| x.1).count();
        r.misses.push(format!(
            "candidates {name}: {} ({read} with text), score p10 {:.2} p50 {:.2} p90 {:.2}",
            v.len(),
            q(0.1),
            q(0.5),
            q(0.9)
        ));
    }
    let mut used = vec![false; passes.len()];
    let by_camera: HashMap<&str, Vec<&FrameReads>> =
        taps.iter().fold(HashMap::new(), |mut m, f| {
            m.entry(f.camera.as_str()).or_default().push(f);
            m
        });
    for t in truth {
        let matched: Vec<usize> = (0..passes.len()).filter(|&i| near(&passes[i], t)).collect();
        for &i in &matched {
            used[i] = true;
        }
        if matched.len() > 1 {
            r.duplicates += 1;
            let list: Vec<String> = matched
                .iter()
                .map(|&i| {
                    let p = &passes[i];
                    format!(
                        "{} [{:.0}..{:.0}] {} frames",
                        p.text,
                        ms(p.first_seen) - r.offset_ms - t.start_ms,
                        ms(p.last_seen) - r.offset_ms - t.start_ms,
                        p.frames
                    )
                })
                .collect();
            r.misses.push(format!(
                "{} {} [0..{:.0}] duplicated: {list:?}",
                t.camera,
                t.plate,
                t.end_ms - t.start_ms
            ));
            // The frames where the later passes began, with every candidate.
            for &i in &matched[1..] {
                let start = ms(passes[i].first_seen);
                for f in taps
                    .iter()
                    .filter(|f| f.camera.as_str() == t.camera && (ms(f.at) - start).abs() < 800.0)
                {
                    let reads: Vec<String> = f
                        .reads
                        .iter()
                        .filter(|(_, text, _)| !text.is_empty())
                        .map(|(c, text, conf)| {
                            let b = c.bbox();
                            format!(
                                "{text}@{:.0},{:.0},{:.0},{:.0} s{:.2} c{conf:.2}",
                                b[0], b[1], b[2], b[3], c.score
                            )
                        })
                        .collect();
                    r.misses
                        .push(format!("      {:+.0} ms: {reads:?}", ms(f.at) - start));
                }
            }
        }
        if matched.iter().any(|&i| passes[i].text == t.plate) {
            r.exact += 1;
            continue;
        }
        // Why was it missed? Look at the frames analysed during the pass.
        let frames: Vec<&&FrameReads> = by_camera
            .get(t.camera.as_str())
            .map(|v| {
                v.iter()
                    .filter(|f| {
                        let at = ms(f.at) - r.offset_ms;
                        at >= t.start_ms - 100.0 && at <= t.end_ms + 100.0
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut detected = 0;
        let mut read_exact = 0;
        let mut texts: Vec<String> = Vec::new();
        for f in &frames {
            let at = ms(f.at) - r.offset_ms;
            let Some((_, gt)) = t
                .boxes
                .iter()
                .min_by(|a, b| (a.0 - at).abs().total_cmp(&(b.0 - at).abs()))
            else {
                continue;
            };
            for (c, text, _) in &f.reads {
                let b = c.bbox();
                if iou([b[0], b[1], b[2] - b[0], b[3] - b[1]], *gt) >= 0.2 {
                    detected += 1;
                    read_exact += usize::from(*text == t.plate);
                    texts.push(text.clone());
                    break;
                }
            }
        }
        let reason = if detected < 2 {
            r.lost_detector += 1;
            "detector"
        } else if read_exact == 0 {
            r.lost_ocr += 1;
            "ocr"
        } else {
            r.lost_tracker += 1;
            "tracker"
        };
        let got: Vec<&str> = matched.iter().map(|&i| passes[i].text.as_str()).collect();
        let around: Vec<String> = passes
            .iter()
            .filter(|p| {
                p.camera.as_str() == t.camera
                    && ms(p.first_seen) - r.offset_ms <= t.end_ms + 3000.0
                    && ms(p.last_seen) - r.offset_ms >= t.start_ms - 3000.0
            })
            .map(|p| {
                format!(
                    "{} [{:.0}..{:.0}] {}f",
                    p.text,
                    ms(p.first_seen) - r.offset_ms - t.start_ms,
                    ms(p.last_seen) - r.offset_ms - t.start_ms,
                    p.frames
                )
            })
            .collect();
        r.misses.push(format!(
            "{} {} ({} truth frames, max width {} px, [0..{:.0}]): {reason}: {} frames analysed, {} detected, {} read exactly; reads {:?}; passes {:?}; passes around {around:?}",
            t.camera,
            t.plate,
            t.frames,
            t.max_width,
            t.end_ms - t.start_ms,
            frames.len(),
            detected,
            read_exact,
            texts,
            got
        ));
    }
    // Junk: passes inside the window that match no vehicle of the cameras at all.
    let junk: Vec<String> = passes
        .iter()
        .zip(&used)
        .filter(|(p, u)| {
            let (from, to) = (
                ms(p.first_seen) - r.offset_ms,
                ms(p.last_seen) - r.offset_ms,
            );
            !**u && from >= window.0 && to <= window.1 && !all_truth.iter().any(|t| near(p, t))
        })
        .map(|(p, _)| format!("{} {} ({} frames)", p.camera, p.text, p.frames))
        .collect();
    r.unmatched = junk.len();
    if !junk.is_empty() {
        r.misses.push(format!("junk passes: {junk:?}"));
    }
    r
}

/// A frame queue that is full drops frames at the source and counts them, and decoding keeps
/// its pace. The analysis is made too slow for 15 fps × 4 cameras whatever the hardware: every
/// cell over a near-zero detector threshold becomes a candidate (up to 64 per frame, each an OCR
/// crop), the OCR stage takes one frame at a time, and the kernels wait for it; with a queue of
/// one frame, drops must happen. Decoding must still run at the cameras' rate.
#[test]
fn a_full_frame_queue_drops_and_counts_without_blocking_decoding() {
    let _serial = one_at_a_time();
    let cam = TestCam::start(4, free_port());
    let cameras: Vec<_> = cam
        .urls
        .iter()
        .enumerate()
        .map(|(i, u)| camera(&format!("cam{i}"), u))
        .collect();
    let mut ids: Vec<AnalysedCamera> = cameras.iter().map(AnalysedCamera::from).collect();
    // cam0 looks only at a sliver of sky where no plate ever is: nothing of it is read.
    ids[0].roi = Some(vec![[0.0, 0.0], [40.0, 0.0], [0.0, 10.0]]);
    let config = AnalysisConfig {
        backend: Backend::Native,
        kernel_threads: 1,
        frame_queue: 1,
        kernel_batch: 1,
        detect_threshold: 0.01,
        max_candidates: 64,
        ocr_frame_queue: 1,
        ..AnalysisConfig::default()
    };
    let (localizer, recognizer) = custos_analysis::open_engines(&config, &ocr_config()).unwrap();
    let (pass_tx, _pass_rx) = crossbeam_channel::bounded::<Pass>(1000);
    let analysis = Analysis::start(&ids, &config, localizer, recognizer, pass_tx).unwrap();
    init_logs();
    let ingest = custos_pipeline::Ingest::start(cameras, analysis.frames()).unwrap();
    wait_all_streaming(&ingest);
    let before = ingest.status();
    let m0 = analysis.metrics();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    let after = ingest.status();
    let m1 = analysis.metrics();
    let dt = t0.elapsed().as_secs_f64();
    let text = custos_analysis::render(&m1, &after);
    assert!(
        text.contains("custos_frames_dropped_total{camera=\"cam3\"}"),
        "{text}"
    );
    assert!(
        text.contains("custos_frames_analysed_total{camera=\"cam0\"}"),
        "{text}"
    );
    ingest.stop();
    analysis.stop();
    let mut dropped = 0;
    for (b, a) in before.iter().zip(&after) {
        let fps = (a.frames_decoded - b.frames_decoded) as f64 / dt;
        eprintln!(
            "{}: decoded {fps:.1} fps, dropped {}",
            a.id,
            a.frames_dropped - b.frames_dropped
        );
        // The cameras send 15 fps: decoding must not have slowed to the analysis' pace.
        assert!(fps > 11.0, "{}: decoding slowed to {fps:.1} fps", a.id);
        dropped += a.frames_dropped - b.frames_dropped;
    }
    let analysed: u64 = m1
        .cameras
        .iter()
        .zip(&m0.cameras)
        .map(|(a, b)| a.frames_analysed - b.frames_analysed)
        .sum();
    eprintln!(
        "analysed {analysed}, dropped {dropped}, queue {:?}",
        m1.queues
    );
    assert!(
        dropped > 0,
        "nothing was dropped: the test did not fill the queue"
    );
    assert!(analysed > 0, "analysis made no progress");
    assert!(m1.queues.frames <= 1, "the frame queue grew past its bound");
}
