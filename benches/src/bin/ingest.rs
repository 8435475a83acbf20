//! Ingest capacity: how many live RTSP camera streams the ingest decodes in real time before it
//! falls behind, against the decode-only ceiling of the same machine on the same clip.
//!
//! 1. Encodes a synthetic road-scene clip (the test cameras' scene, with plates).
//! 2. Decode-only ceiling: demux → parse → software decoder → fakesink as fast as possible, one
//!    file alone and as many files at once as there are CPUs (one decoder leaves part of the
//!    machine idle), three runs each (two before the ramp, one after); the fastest counts:
//!    `decode_only_streams = decode fps / camera fps`.
//! 3. Live ramp: the test-camera server serves the clip on many RTSP mounts and the product's
//!    `Ingest` (default settings: TCP, analysis at 8 fps) pulls N of them. N climbs from a guess
//!    below the ceiling until a step falls behind, then a bisection finds the knee.
//!
//! Prints one table row per step, then the result as one JSON object on the last line.

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use custos_core::{CameraId, Frame};
use custos_pipeline::testcam::{Source, TestCamConfig, TestCamServer, VideoCodec, encode_clip};
use custos_pipeline::{CameraSettings, CameraState, CameraStatus, Ingest};
use custos_synth::Resolution;
use gst::prelude::*;

/// Longest wait for every camera of a step to deliver its first frame.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra clip length beyond the longest step, so no stream reaches the clip's end while measured.
const CLIP_MARGIN_SECONDS: f64 = 5.0;
/// The clip is at least this long so the decode-only timing runs for a second or more.
const MIN_CLIP_SECONDS: u32 = 30;
/// Decode-only runs of each kind before the ramp (its starting guess) and after it; the best of
/// all counts, since other work on a shared machine only ever slows a run.
const DECODE_RUNS_BEFORE: usize = 2;
const DECODE_RUNS_AFTER: usize = 1;
/// Frames the ingest may queue for analysis; the drain thread empties it.
const FRAME_QUEUE: usize = 256;
/// The test cameras are capped at 256 mounts and the ramp alternates between two sets.
const MAX_STREAMS_LIMIT: u64 = 128;
/// Linux reports /proc CPU times in USER_HZ, which is 100 on every architecture Custos ships.
const USER_HZ: f64 = 100.0;

/// Cores of other work above which the result is flagged as disturbed.
const OTHER_LOAD_WARNING: f64 = 0.2;

/// Sustained means every stream decodes at least this share of the camera frame rate…
const MIN_STREAM_SHARE: f64 = 0.9;
/// …all streams together at least this share of N × the frame rate…
const MIN_TOTAL_SHARE: f64 = 0.95;
/// …and fewer than this share of decoded frames are dropped.
const MAX_DROP_SHARE: f64 = 0.02;

#[derive(Parser, Debug)]
#[command(
    about = "How many live RTSP streams the ingest sustains, against the decode-only ceiling"
)]
struct Args {
    /// Stream resolution.
    #[arg(long, value_enum, default_value_t = Resolution::P720)]
    res: Resolution,
    /// Stream codec.
    #[arg(long, value_enum, default_value_t = Codec::H264)]
    codec: Codec,
    /// Camera frame rate.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Seconds measured at each step (after the warm-up).
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    step_seconds: f64,
    /// Seconds each step runs before it is measured, once every stream delivers frames.
    #[arg(long, default_value_t = 2.0, value_parser = parse_seconds)]
    warmup_seconds: f64,
    /// Never run more streams than this.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=MAX_STREAMS_LIMIT))]
    max_streams: u64,
}

fn parse_seconds(raw: &str) -> Result<f64, String> {
    let seconds: f64 = raw
        .parse()
        .map_err(|e| format!("{raw:?} is not a number: {e}"))?;
    if seconds.is_finite() && (0.5..=120.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!("{seconds} is out of range; use 0.5 to 120 seconds"))
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Codec {
    H264,
    H265,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
        }
    }

    fn video_codec(self) -> VideoCodec {
        match self {
            Codec::H264 => VideoCodec::H264,
            Codec::H265 => VideoCodec::H265,
        }
    }

    /// Parser and decoder of the decode-only run: libav's software decoder, which is what the
    /// ingest picks on a machine without a GPU (checked after the ramp).
    fn parse_and_decode(self) -> (&'static str, &'static str) {
        match self {
            Codec::H264 => ("h264parse", "avdec_h264"),
            Codec::H265 => ("h265parse", "avdec_h265"),
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    custos_pipeline::init().context("cannot initialise GStreamer")?;
    let machine = machine_description();
    let (width, height) = args.res.size();
    let fps = f64::from(args.fps);

    // Every step restarts the ingest, whose new RTSP sessions play the clip from its start, so
    // the clip must outlast one step, not the whole ramp.
    let step_span = CONNECT_TIMEOUT.as_secs_f64()
        + args.warmup_seconds
        + args.step_seconds
        + CLIP_MARGIN_SECONDS;
    let clip_seconds = (step_span.ceil() as u32).max(MIN_CLIP_SECONDS);
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let clip = dir.path().join(format!("scene-{}.mkv", args.res.name()));
    eprintln!(
        "encoding a {clip_seconds} s {width}x{height}@{} {} clip…",
        args.fps,
        args.codec.name()
    );
    let clip_frames = encode_clip(
        &clip,
        width,
        height,
        args.fps,
        clip_seconds,
        args.codec.video_codec(),
        7,
    )
    .with_context(|| format!("cannot encode the test clip {}", clip.display()))?;

    let ceiling = Ceiling::measure(&clip, args.codec, clip_frames, DECODE_RUNS_BEFORE, None)?;
    ceiling.report(fps);
    let ramp = Ramp::new(&args, &clip)?;
    let outcome = ramp.run(ceiling.best().fps / fps)?;
    let ceiling = Ceiling::measure(
        &clip,
        args.codec,
        clip_frames,
        DECODE_RUNS_AFTER,
        Some(ceiling),
    )?;
    ceiling.report(fps);
    let decode = ceiling.best();
    let decode_streams = decode.fps / fps;

    let best = outcome.best.as_ref();
    let streams_sustained = best.map_or(0, |s| s.streams);
    if u64::try_from(streams_sustained).is_ok_and(|n| n == args.max_streams) {
        eprintln!("warning: every step up to --max-streams was sustained; the knee lies higher");
    }
    let ingest_decoder = outcome.decoder.as_deref().unwrap_or("unknown");
    let expected_decoder = args.codec.parse_and_decode().1;
    if ingest_decoder != expected_decoder {
        eprintln!(
            "warning: the ingest decoded with {ingest_decoder} but the ceiling was measured with \
             {expected_decoder}; the ratio compares different decoders"
        );
    }
    // Other work on the machine lowers both figures, and not by the same amount.
    let others_max = outcome.others_max.max(decode.cpu.others);
    if others_max > OTHER_LOAD_WARNING {
        eprintln!(
            "warning: other processes kept up to {others_max:.2} cores busy during the run; \
             the figures understate this machine"
        );
    }
    let result = serde_json::json!({
        "res": args.res.name(),
        "codec": args.codec.name(),
        "fps": args.fps,
        "streams_sustained": streams_sustained,
        "decode_only_fps": round(decode.fps, 1),
        "decode_only_streams": round(decode_streams, 2),
        "decode_only_streams_floor": decode_streams.floor() as u64,
        "ratio": round(streams_sustained as f64 / decode_streams, 3),
        "cores_at_sustained": best.map(|s| round(s.cpu.own, 2)),
        "decode_only_cores": round(decode.cpu.own, 2),
        "decode_one_file_fps": round(ceiling.one_file.fps, 1),
        "decode_one_file_cores": round(ceiling.one_file.cpu.own, 2),
        "other_load_cores_max": round(others_max, 2),
        "decoder": ingest_decoder,
        "machine": machine,
    });
    println!("{result}");
    Ok(())
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// "2 CPUs, AMD EPYC 7B13": what the figures were measured on.
fn machine_description() -> String {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} CPUs, {model}")
}

/// CPU time used so far by this process (all its threads: the ingest, the test cameras and the
/// drain) and by the whole machine, so that a measurement can tell other work on a shared machine
/// from its own.
struct CpuTimes {
    at: Instant,
    process: f64,
    machine: f64,
}

/// Cores busy over an interval.
#[derive(Clone, Copy, Debug)]
struct CpuUse {
    own: f64,
    /// Other processes (and the hypervisor's steal): when these are busy the figures are low.
    others: f64,
}

impl CpuTimes {
    fn now() -> Result<Self> {
        Ok(Self {
            at: Instant::now(),
            process: process_cpu_seconds()?,
            machine: machine_busy_seconds()?,
        })
    }

    fn since(&self, earlier: &CpuTimes) -> CpuUse {
        let wall = (self.at - earlier.at).as_secs_f64().max(f64::EPSILON);
        let own = (self.process - earlier.process) / wall;
        let machine = (self.machine - earlier.machine) / wall;
        CpuUse {
            own,
            others: (machine - own).max(0.0),
        }
    }
}

fn process_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    // The command name (field 2) may hold spaces and parentheses; fields after its closing ')'
    // start at field 3, so utime (14) and stime (15) are the 12th and 13th of them.
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/self/stat")?;
    let ticks = parse_ticks(
        after_comm.split_whitespace().skip(11).take(2),
        "/proc/self/stat",
    )?;
    Ok(ticks.iter().sum::<f64>() / USER_HZ)
}

/// Busy CPU seconds of the whole machine, all CPUs together.
fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let cpu = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .context("/proc/stat has no cpu line")?;
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let ticks = parse_ticks(cpu.split_whitespace().take(8), "/proc/stat")?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = ticks[..] else {
        bail!("/proc/stat's cpu line has {} fields, not 8", ticks.len());
    };
    Ok((user + nice + system + irq + softirq + steal) / USER_HZ)
}

fn parse_ticks<'a>(fields: impl Iterator<Item = &'a str>, file: &str) -> Result<Vec<f64>> {
    fields
        .map(|f| {
            f.parse::<u64>()
                .map(|t| t as f64)
                .with_context(|| format!("bad CPU time {f:?} in {file}"))
        })
        .collect()
}

/// The decode-only ceiling, measured two ways.
struct Ceiling {
    /// One file, as `gst-launch-1.0` would decode it. One decoder's frame threads do not keep
    /// every core busy (about 1.5 of 2 here), so this understates the machine.
    one_file: DecodeOnly,
    /// As many files at once as there are CPUs: decoding alone with the whole machine.
    all_cpus: DecodeOnly,
}

impl Ceiling {
    fn measure(
        clip: &Path,
        codec: Codec,
        clip_frames: u64,
        runs: usize,
        previous: Option<Ceiling>,
    ) -> Result<Self> {
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        let (one_file, all_cpus) = previous.map(|c| (c.one_file, c.all_cpus)).unzip();
        Ok(Self {
            one_file: decode_only(clip, codec, clip_frames, 1, runs, one_file)?,
            all_cpus: decode_only(clip, codec, clip_frames, cpus, runs, all_cpus)?,
        })
    }

    /// The higher of the two: what the machine can decode when it does nothing else.
    fn best(&self) -> &DecodeOnly {
        if self.all_cpus.fps >= self.one_file.fps {
            &self.all_cpus
        } else {
            &self.one_file
        }
    }

    fn report(&self, fps: f64) {
        for (what, decode) in [
            ("one file", &self.one_file),
            ("a file per CPU", &self.all_cpus),
        ] {
            eprintln!(
                "decode-only, {what}: {:.0} fps on {:.2} cores ({:.2} busy elsewhere) = {:.1} streams",
                decode.fps,
                decode.cpu.own,
                decode.cpu.others,
                decode.fps / fps
            );
        }
    }
}

struct DecodeOnly {
    frames: u64,
    fps: f64,
    /// Cores busy while decoding: shows whether the decoder used the whole machine.
    cpu: CpuUse,
}

/// The fastest of `runs` file decodes of `clip` (`copies` of it at once), or `best` if none beats
/// it.
fn decode_only(
    clip: &Path,
    codec: Codec,
    clip_frames: u64,
    copies: usize,
    runs: usize,
    mut best: Option<DecodeOnly>,
) -> Result<DecodeOnly> {
    let expected = clip_frames * copies as u64;
    for _ in 0..runs {
        let run = decode_once(clip, codec, copies)?;
        // The decoder may hold back a frame or two at the end of the file.
        ensure!(
            run.frames + 2 * copies as u64 >= expected,
            "decode-only run decoded {} of {expected} frames",
            run.frames
        );
        if best.as_ref().is_none_or(|b| run.fps > b.fps) {
            best = Some(run);
        }
    }
    best.context("no decode-only run")
}

/// Decodes `copies` of `clip` at once as fast as possible. Each is the pipeline of
/// `gst-launch-1.0 filesrc ! matroskademux ! h264parse ! avdec_h264 ! fakesink sync=false`, run
/// in-process so that neither process start-up nor the plugin registry load counts as decoding.
fn decode_once(clip: &Path, codec: Codec, copies: usize) -> Result<DecodeOnly> {
    let (parser, decoder) = codec.parse_and_decode();
    // Independent branches in one pipeline, which posts EOS once every branch has finished.
    let description = (0..copies)
        .map(|i| {
            format!(
                "filesrc name=src{i} ! matroskademux ! {parser} ! {decoder} name=dec{i} \
                 ! fakesink sync=false"
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let pipeline = gst::parse::launch(&description)
        .with_context(|| format!("cannot build the decode-only pipeline {description:?}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("the decode-only description is not a pipeline"))?;
    let frames = Arc::new(AtomicU64::new(0));
    for i in 0..copies {
        let source = pipeline
            .by_name(&format!("src{i}"))
            .context("decode-only pipeline has no filesrc")?;
        // A property, not the launch string, so no path needs quoting.
        source.set_property("location", clip.to_string_lossy().as_ref());
        let counter = frames.clone();
        pipeline
            .by_name(&format!("dec{i}"))
            .and_then(|dec| dec.static_pad("src"))
            .context("decode-only pipeline has no decoder src pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
    }
    let bus = pipeline.bus().context("decode-only pipeline has no bus")?;

    let cpu_start = CpuTimes::now()?;
    let ended = pipeline
        .set_state(gst::State::Playing)
        .context("decode-only pipeline refused to start")
        .map(|_| {
            bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(300),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
        });
    let cpu_end = CpuTimes::now()?;
    let elapsed = (cpu_end.at - cpu_start.at).as_secs_f64();
    let _ = pipeline.set_state(gst::State::Null);
    match ended?.as_ref().map(|msg| msg.view()) {
        Some(gst::MessageView::Eos(_)) => {}
        Some(gst::MessageView::Error(err)) => bail!("decode-only run failed: {}", err.error()),
        _ => bail!("decode-only run did not finish within 300 s"),
    }
    let frames = frames.load(Ordering::Relaxed);
    Ok(DecodeOnly {
        frames,
        fps: frames as f64 / elapsed,
        cpu: cpu_end.since(&cpu_start),
    })
}

/// What one step measured.
struct Step {
    streams: usize,
    total_fps: f64,
    min_stream_fps: f64,
    /// Frames handed to analysis per second, all streams.
    analysed_fps: f64,
    drop_share: f64,
    cpu: CpuUse,
    sustained: bool,
    decoder: Option<String>,
}

struct RampOutcome {
    /// The largest sustained step.
    best: Option<Step>,
    /// The decoder the ingest used.
    decoder: Option<String>,
    /// The most cores other work took during any step.
    others_max: f64,
}

struct Ramp {
    fps: f64,
    max_streams: usize,
    warmup: Duration,
    measure: Duration,
    urls: Vec<String>,
    /// Keeps the cameras serving until the ramp is over.
    _server: TestCamServer,
    frames: crossbeam_channel::Sender<Frame>,
    drained: Arc<AtomicU64>,
    drain: Option<thread::JoinHandle<()>>,
    steps_run: usize,
    /// The most cores other work took during any step.
    others_max: f64,
}

impl Ramp {
    fn new(args: &Args, clip: &Path) -> Result<Self> {
        let max_streams =
            usize::try_from(args.max_streams).context("--max-streams is too large")?;
        // Two mounts per stream: consecutive steps use different halves, so a step never reuses
        // a mount whose previous session the server may still be tearing down.
        let server = TestCamServer::start(TestCamConfig {
            cameras: 2 * max_streams,
            address: "127.0.0.1".into(),
            port: 0,
            source: Source::Clip {
                path: PathBuf::from(clip),
                codec: args.codec.video_codec(),
            },
            ground_truth: None,
            credentials: None,
        })
        .context("cannot start the test cameras")?;
        let urls = server.urls();
        ensure!(
            urls.len() == 2 * max_streams,
            "the test cameras serve {} mounts, not {}",
            urls.len(),
            2 * max_streams
        );

        // Analysis stands in as a thread that only counts, so the queue never fills.
        let (frames, queue) = crossbeam_channel::bounded::<Frame>(FRAME_QUEUE);
        let drained = Arc::new(AtomicU64::new(0));
        let counter = drained.clone();
        let drain = thread::Builder::new()
            .name("drain".into())
            .spawn(move || {
                for _frame in queue {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .context("cannot start the drain thread")?;
        Ok(Self {
            fps: f64::from(args.fps),
            max_streams,
            warmup: Duration::from_secs_f64(args.warmup_seconds),
            measure: Duration::from_secs_f64(args.step_seconds),
            urls,
            _server: server,
            frames,
            drained,
            drain: Some(drain),
            steps_run: 0,
            others_max: 0.0,
        })
    }

    /// Climbs from below the decode-only ceiling in strides of about an eighth of it until a
    /// step falls behind, then bisects between the last sustained and the first failed step.
    fn run(mut self, ceiling: f64) -> Result<RampOutcome> {
        print_header();
        let max = self.max_streams;
        let stride = ((ceiling / 8.0).round() as usize).max(1);
        let mut streams = ((ceiling * 0.6).floor() as usize).clamp(1, max);
        let mut best: Option<Step> = None;
        let mut first_failed: Option<usize> = None;
        let mut decoder = None;
        loop {
            let step = self.confirmed_step(streams)?;
            decoder = decoder.or_else(|| step.decoder.clone());
            if !step.sustained {
                first_failed = Some(streams);
                break;
            }
            best = Some(step);
            if streams == max {
                break;
            }
            streams = (streams + stride).min(max);
        }
        if let Some(mut high) = first_failed {
            loop {
                let low = best.as_ref().map_or(0, |s| s.streams);
                if high - low <= 1 {
                    break;
                }
                let mid = low + (high - low) / 2;
                let step = self.confirmed_step(mid)?;
                decoder = decoder.or_else(|| step.decoder.clone());
                if step.sustained {
                    best = Some(step);
                } else {
                    high = mid;
                }
            }
        }
        Ok(RampOutcome {
            best,
            decoder,
            others_max: self.others_max,
        })
    }

    /// Runs a step; a step that falls behind runs once more before it counts as failed, since a
    /// burst of other work on a shared machine can sink one measurement.
    fn confirmed_step(&mut self, streams: usize) -> Result<Step> {
        let step = self.step(streams)?;
        if step.sustained {
            Ok(step)
        } else {
            self.step(streams)
        }
    }

    fn step(&mut self, streams: usize) -> Result<Step> {
        let half = self.steps_run % 2;
        self.steps_run += 1;
        let cameras = self.urls[half * self.max_streams..][..streams]
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let id = CameraId::new(format!("cam{i}"))?;
                let url = custos_pipeline::config::parse_rtsp_url(url)
                    .map_err(|e| anyhow::anyhow!("test camera URL {url}: {e}"))?;
                Ok(CameraSettings::with_defaults(id, url))
            })
            .collect::<Result<Vec<_>>>()?;
        let ingest = Ingest::start(cameras, self.frames.clone())
            .with_context(|| format!("cannot start the ingest with {streams} cameras"))?;

        // Connecting many cameras takes a while; warm-up counts from when all of them stream.
        let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
        while Instant::now() < connect_deadline
            && ingest
                .status()
                .iter()
                .any(|s| s.state != CameraState::Streaming)
        {
            thread::sleep(Duration::from_millis(100));
        }
        thread::sleep(self.warmup);

        let (before, cpu_before, drained_before) = (
            ingest.status(),
            CpuTimes::now()?,
            self.drained.load(Ordering::Relaxed),
        );
        thread::sleep(self.measure);
        let (after, cpu_after, drained_after) = (
            ingest.status(),
            CpuTimes::now()?,
            self.drained.load(Ordering::Relaxed),
        );
        ingest.stop();

        let elapsed = (cpu_after.at - cpu_before.at).as_secs_f64();
        let step = self.judge(
            streams,
            (&before, &after),
            elapsed,
            cpu_after.since(&cpu_before),
            drained_after - drained_before,
        );
        self.others_max = self.others_max.max(step.cpu.others);
        print_row(&step);
        report_faults(&after);
        Ok(step)
    }

    fn judge(
        &self,
        streams: usize,
        (before, after): (&[CameraStatus], &[CameraStatus]),
        elapsed: f64,
        cpu: CpuUse,
        drained: u64,
    ) -> Step {
        let (mut decoded, mut dropped, mut min_stream_fps) = (0u64, 0u64, f64::INFINITY);
        for (b, a) in before.iter().zip(after) {
            let stream_decoded = a.frames_decoded.saturating_sub(b.frames_decoded);
            decoded += stream_decoded;
            dropped += a.frames_dropped.saturating_sub(b.frames_dropped);
            min_stream_fps = min_stream_fps.min(stream_decoded as f64 / elapsed);
        }
        let total_fps = decoded as f64 / elapsed;
        // Nothing decoded counts as everything dropped.
        let drop_share = if decoded == 0 {
            1.0
        } else {
            dropped as f64 / decoded as f64
        };
        let sustained = min_stream_fps >= MIN_STREAM_SHARE * self.fps
            && total_fps >= MIN_TOTAL_SHARE * streams as f64 * self.fps
            && drop_share < MAX_DROP_SHARE;
        Step {
            streams,
            total_fps,
            min_stream_fps,
            analysed_fps: drained as f64 / elapsed,
            drop_share,
            cpu,
            sustained,
            decoder: after.iter().find_map(|s| s.decoder.clone()),
        }
    }
}

impl Drop for Ramp {
    fn drop(&mut self) {
        // Closing the queue ends the drain thread once every ingest has stopped.
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.frames, closed));
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

fn print_header() {
    println!(
        "{:>7} {:>11} {:>14} {:>12} {:>9} {:>5} {:>6} {:>9}",
        "streams",
        "decoded fps",
        "min fps/stream",
        "analysed fps",
        "dropped %",
        "cores",
        "others",
        "sustained"
    );
}

fn print_row(step: &Step) {
    println!(
        "{:>7} {:>11.1} {:>14.1} {:>12.1} {:>9.2} {:>5.2} {:>6.2} {:>9}",
        step.streams,
        step.total_fps,
        step.min_stream_fps,
        step.analysed_fps,
        step.drop_share * 100.0,
        step.cpu.own,
        step.cpu.others,
        if step.sustained { "yes" } else { "no" }
    );
    // Rows appear as the ramp goes, even when stdout is a pipe.
    let _ = std::io::stdout().flush();
}

/// Names, on stderr, the cameras that were not streaming at the end of a step, and why.
fn report_faults(statuses: &[CameraStatus]) {
    let faults = statuses
        .iter()
        .filter(|s| s.state != CameraState::Streaming)
        .fold(String::new(), |mut out, s| {
            let _ = write!(
                out,
                " {} ({:?}: {})",
                s.id,
                s.state,
                s.last_error.as_deref().unwrap_or("no error")
            );
            out
        });
    if !faults.is_empty() {
        eprintln!("  not streaming:{faults}");
    }
}
