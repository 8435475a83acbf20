//! End to end: how many cameras the whole analysis sustains on this machine — RTSP ingest →
//! plate kernels → shared OCR batcher → per-camera trackers → passes — at the analysis rate,
//! with no growing backlog.
//!
//! 1. Encodes a synthetic road-scene clip (the test cameras' scene, with plates) and serves it
//!    on many RTSP mounts without re-encoding, so serving costs little.
//! 2. Ramp: N cameras through the product's `Ingest` and `Analysis` (default settings, analysis
//!    at 8 fps); N doubles until a step is not sustained, then a bisection finds the knee.
//!    Sustained: every camera analysed at ≥ 90 % of the analysis rate, the frame queue never
//!    full, and dropped frames < 10 % of those handed to analysis.
//! 3. Frame→read latency (from a frame's arrival, its timestamp on the pipeline clock, to its
//!    plate crops read: the RTSP jitter buffer's hold, 200 ms by default, and decoding count;
//!    the tracker's voting window comes on top) p50/p99 at the best sustained step.
//!
//! The decode-only ceiling of the same machine is the `ingest` benchmark's. Prints a table, then
//! one JSON object on the last line.
//!
//! `cargo run --release -p benches --bin e2e -- --res 720p`

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::{Parser, ValueEnum};
use custos_analysis::{
    self, AnalysedCamera, Analysis, AnalysisConfig, Backend, MetricsSnapshot, Pass,
};
use custos_core::CameraId;
use custos_pipeline::testcam::{Source, TestCamConfig, TestCamServer, VideoCodec, encode_clip};
use custos_pipeline::{CameraSettings, CameraState, CameraStatus, Ingest};
use custos_synth::Resolution;

/// Longest wait for every camera of a step to deliver its first frame.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Sustained: each camera analysed at this share of the analysis rate or more…
const MIN_RATE_SHARE: f64 = 0.9;
/// …and fewer dropped frames than this share of those handed to analysis. Loose on purpose:
/// the ingest also counts frames its appsink replaced while the machine was busy, half of which
/// the analysis rate would have skipped anyway; analysis falling behind shows as a full frame
/// queue, checked separately.
const MAX_DROP_SHARE: f64 = 0.1;

#[derive(Parser, Debug)]
#[command(about = "How many cameras the whole analysis sustains at the analysis rate")]
struct Args {
    #[arg(long, value_enum, default_value_t = Resolution::P720)]
    res: Resolution,
    /// Camera frame rate.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Frames per second analysed per camera.
    #[arg(long, default_value_t = 8.0)]
    analysis_fps: f64,
    /// Seconds measured per step, after the warm-up.
    #[arg(long, default_value_t = 8.0)]
    step_seconds: f64,
    /// Seconds each step runs before it is measured.
    #[arg(long, default_value_t = 3.0)]
    warmup_seconds: f64,
    /// Never run more cameras than this.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=128))]
    max_cameras: u64,
    /// Kernels backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Auto,
    Native,
    Wgpu,
}

/// What one step measured.
struct Step {
    cameras: usize,
    min_fps: f64,
    mean_fps: f64,
    drop_share: f64,
    frame_queue_max: usize,
    sustained: bool,
    kernel_frames_per_call: f64,
    ocr_crops_per_batch: f64,
    ocr_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    passes: u64,
    backend: String,
    provider: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    custos_pipeline::init().context("cannot initialise GStreamer")?;
    let (width, height) = args.res.size();
    let step_span = CONNECT_TIMEOUT.as_secs_f64() + args.warmup_seconds + args.step_seconds + 5.0;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let clip = dir.path().join(format!("scene-{}.mkv", args.res.name()));
    eprintln!(
        "encoding a {:.0} s {width}x{height}@{} clip…",
        step_span, args.fps
    );
    encode_clip(
        &clip,
        width,
        height,
        args.fps,
        step_span.ceil() as u32,
        VideoCodec::H264,
        7,
    )
    .with_context(|| format!("cannot encode {}", clip.display()))?;
    let server = TestCamServer::start(TestCamConfig {
        cameras: args.max_cameras as usize,
        address: "127.0.0.1".into(),
        port: 0,
        source: Source::Clip {
            path: clip.clone(),
            codec: VideoCodec::H264,
        },
        ground_truth: None,
        credentials: None,
    })
    .context("cannot start the test cameras")?;
    let urls = server.urls();

    println!(
        "{:>7} {:>9} {:>9} {:>7} {:>6} {:>9} {:>9} {:>7} {:>8} {:>8} {:>6}  sustained",
        "cameras",
        "min fps",
        "mean fps",
        "drop%",
        "queue",
        "frm/call",
        "crop/bat",
        "OCR ms",
        "p50 ms",
        "p99 ms",
        "passes"
    );
    let mut best: Option<Step> = None;
    let mut first_bad: Option<usize> = None;
    let mut n = 1usize;
    loop {
        let step = run_step(&args, &urls[..n])?;
        print_step(&step);
        if step.sustained {
            best = Some(step);
        } else {
            first_bad = Some(n);
        }
        let good = best.as_ref().map_or(0, |s| s.cameras);
        n = match first_bad {
            None if n as u64 >= args.max_cameras => break,
            None => (n * 2).min(args.max_cameras as usize),
            Some(bad) if bad - good <= 1 => break,
            Some(bad) => (good + bad) / 2,
        };
        if n == 0 {
            break;
        }
    }
    drop(server);

    let json = match &best {
        Some(s) => serde_json::json!({
            "bench": "e2e",
            "res": args.res.name(),
            "camera_fps": args.fps,
            "analysis_fps": args.analysis_fps,
            "cameras_sustained": s.cameras,
            "backend": s.backend,
            "provider": s.provider,
            "frame_to_read_p50_ms": s.p50_ms,
            "frame_to_read_p99_ms": s.p99_ms,
            "kernel_frames_per_call": s.kernel_frames_per_call,
            "ocr_crops_per_batch": s.ocr_crops_per_batch,
            "ocr_batch_ms": s.ocr_ms,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        }),
        None => serde_json::json!({
            "bench": "e2e",
            "res": args.res.name(),
            "camera_fps": args.fps,
            "analysis_fps": args.analysis_fps,
            "cameras_sustained": 0,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        }),
    };
    println!("{json}");
    Ok(())
}

fn run_step(args: &Args, urls: &[String]) -> Result<Step> {
    let cameras: Vec<CameraSettings> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let id = CameraId::new(format!("cam{i}"))?;
            let url = custos_pipeline::config::parse_rtsp_url(url).map_err(anyhow::Error::msg)?;
            let mut c = CameraSettings::with_defaults(id, url);
            c.analysis_fps = args.analysis_fps;
            Ok(c)
        })
        .collect::<Result<_>>()?;
    let ids: Vec<AnalysedCamera> = cameras.iter().map(AnalysedCamera::from).collect();
    let config = AnalysisConfig {
        backend: match args.backend {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Native => Backend::Native,
            BackendArg::Wgpu => Backend::Wgpu,
        },
        ..AnalysisConfig::default()
    };
    let (localizer, recognizer) =
        custos_analysis::open_engines(&config, &custos_ocr::OcrConfig::default())?;
    let passes = Arc::new(AtomicU64::new(0));
    let counted = passes.clone();
    let sink = move |_: Pass| {
        counted.fetch_add(1, Ordering::Relaxed);
        true
    };
    let analysis = Analysis::start(&ids, &config, localizer, recognizer, sink)?;
    let ingest = Ingest::start(cameras, analysis.frames())?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    while !ingest
        .status()
        .iter()
        .all(|s| s.state == CameraState::Streaming)
    {
        ensure!(
            Instant::now() < deadline,
            "not every camera streams after {CONNECT_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs_f64(args.warmup_seconds));
    let (s0, m0) = (ingest.status(), analysis.metrics());
    let started = Instant::now();
    let mut frame_queue_max = 0;
    while started.elapsed().as_secs_f64() < args.step_seconds {
        std::thread::sleep(Duration::from_millis(200));
        frame_queue_max = frame_queue_max.max(analysis.metrics().queues.frames);
    }
    let (s1, m1) = (ingest.status(), analysis.metrics());
    ingest.stop();
    analysis.stop();
    Ok(measure(
        args,
        &s0,
        &s1,
        &m0,
        &m1,
        frame_queue_max,
        passes.load(Ordering::Relaxed),
    ))
}

fn measure(
    args: &Args,
    s0: &[CameraStatus],
    s1: &[CameraStatus],
    m0: &MetricsSnapshot,
    m1: &MetricsSnapshot,
    frame_queue_max: usize,
    passes: u64,
) -> Step {
    let rates = m1.rates(m0);
    let min_fps = rates
        .iter()
        .map(|r| r.fps_analysed)
        .fold(f64::MAX, f64::min);
    let mean_fps = rates.iter().map(|r| r.fps_analysed).sum::<f64>() / rates.len().max(1) as f64;
    let delta = |f: fn(&CameraStatus) -> u64| -> u64 {
        s1.iter()
            .zip(s0)
            .map(|(a, b)| f(a).saturating_sub(f(b)))
            .sum()
    };
    let handed = delta(|s| s.frames_analysed);
    let dropped = delta(|s| s.frames_dropped);
    let drop_share = dropped as f64 / (handed + dropped).max(1) as f64;
    let latency = m1.frame_to_read.since(&m0.frame_to_read);
    let ocr = m1.ocr_time.since(&m0.ocr_time);
    let kb = (m1.kernel_batches - m0.kernel_batches).max(1) as f64;
    let ob = (m1.ocr_batches - m0.ocr_batches).max(1) as f64;
    let sustained = min_fps >= MIN_RATE_SHARE * args.analysis_fps
        && drop_share < MAX_DROP_SHARE
        // A frame queue that reached its bound means analysis is behind.
        && frame_queue_max < AnalysisConfig::default().frame_queue;
    Step {
        cameras: rates.len(),
        min_fps,
        mean_fps,
        drop_share,
        frame_queue_max,
        sustained,
        kernel_frames_per_call: (m1.kernel_frames - m0.kernel_frames) as f64 / kb,
        ocr_crops_per_batch: (m1.ocr_crops - m0.ocr_crops) as f64 / ob,
        ocr_ms: ocr.mean_s().unwrap_or(0.0) * 1e3,
        p50_ms: latency.quantile(0.5).unwrap_or(0.0) * 1e3,
        p99_ms: latency.quantile(0.99).unwrap_or(0.0) * 1e3,
        passes,
        backend: m1.backend.clone(),
        provider: m1.provider.clone(),
    }
}

fn print_step(s: &Step) {
    println!(
        "{:>7} {:>9.2} {:>9.2} {:>7.1} {:>6} {:>9.2} {:>9.1} {:>7.1} {:>8.0} {:>8.0} {:>6}  {}",
        s.cameras,
        s.min_fps,
        s.mean_fps,
        s.drop_share * 100.0,
        s.frame_queue_max,
        s.kernel_frames_per_call,
        s.ocr_crops_per_batch,
        s.ocr_ms,
        s.p50_ms,
        s.p99_ms,
        s.passes,
        if s.sustained { "yes" } else { "no" }
    );
}
