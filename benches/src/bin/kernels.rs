//! Plate localisation kernels: ms per frame at 1280×720 and 1920×1080 for each backend that can
//! run here — native on one thread and on all cores, wgpu on whatever adapter exists (on a
//! machine without a GPU that is lavapipe, a CPU emulation: a test vehicle, not a product path).
//! Localisation plus crops of every candidate into a 32×128 OCR batch, one frame per call and
//! eight frames (eight cameras) per call.
//!
//! Frames are real (detect-dashcam-ro for 720p, alpr-bench/us for 1080p) when ../shared/data is
//! present, otherwise generated. Prints a table, then one JSON object on the last line.

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use custos_eval as eval;
use custos_kernels::{CropSpec, DetectParams, Localizer, LumaView, NativeLocalizer, WgpuLocalizer};

#[derive(Parser, Debug)]
#[command(about = "ms per frame of the plate localisation kernels, per backend")]
struct Args {
    /// Seconds to measure each configuration (after a warm-up).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Data directory (default: ../shared/data beside the repository).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Only these backends (comma-separated: native-1t, native-all, wgpu).
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
}

/// CPU time of the whole process so far: unlike wall time, it does not grow when other work
/// on a shared machine takes the cores, so single-thread figures stay comparable.
fn process_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A frame of the given size: a real image of that size if one is at hand, else generated.
fn frame(data: &std::path::Path, w: u32, h: u32) -> (Vec<u8>, &'static str) {
    let candidates = [
        ("detect-dashcam-ro/boxes.tsv", "real dash-cam frame"),
        ("alpr-bench/MANIFEST.tsv", "real alpr-bench photo"),
    ];
    for (manifest, what) in candidates {
        let path = data.join(manifest);
        let Ok(labels) = eval::read_manifest(&path) else {
            continue;
        };
        let root = path.parent().map(PathBuf::from).unwrap_or_default();
        for l in labels.iter().take(60) {
            if let Ok(img) = eval::load_gray(&root.join(&l.image))
                && (img.width, img.height) == (w, h)
            {
                return (img.data, what);
            }
        }
    }
    // Generated: shading, noise and a few plate-like patches of strokes.
    let mut d = vec![0u8; (w * h) as usize];
    let mut s = 1u64;
    for (i, p) in d.iter_mut().enumerate() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *p = (80 + (i as u32 % w) * 80 / w + (s >> 60) as u32) as u8;
    }
    for k in 0..3u32 {
        let (px, py, pw, ph) = (w / 5 + k * w / 4, h / 3 + k * h / 6, w / 10, h / 36);
        for y in py..py + ph {
            for x in px..px + pw {
                d[(y * w + x) as usize] = if (x - px) % 6 < 2 { 30 } else { 210 };
            }
        }
    }
    (d, "generated")
}

struct Row {
    backend: String,
    adapter: String,
    size: String,
    batch: usize,
    ms_per_frame: f64,
    cpu_ms_per_frame: f64,
    candidates: f64,
}

/// Median wall ms per frame, mean process CPU ms per frame, candidates per frame.
fn measure(
    loc: &mut dyn Localizer,
    frames: &[LumaView<'_>],
    seconds: f64,
) -> Result<(f64, f64, f64)> {
    let spec = CropSpec::default();
    let mut out = vec![0.0f32; frames.len() * 10 * spec.floats_per_crop()];
    for _ in 0..2 {
        loc.process(frames, &spec, &mut out)?;
    }
    let mut times = Vec::new();
    let mut cands = 0usize;
    let start = Instant::now();
    let cpu_start = process_cpu();
    while times.len() < 3 || start.elapsed() < Duration::from_secs_f64(seconds) {
        let t = Instant::now();
        let r = loc.process(frames, &spec, &mut out)?;
        times.push(t.elapsed().as_secs_f64() * 1e3 / frames.len() as f64);
        cands += r.candidates.iter().map(Vec::len).sum::<usize>();
        if times.len() >= 1000 {
            break;
        }
    }
    let n = (times.len() * frames.len()) as f64;
    let cpu_ms = (process_cpu() - cpu_start).as_secs_f64() * 1e3 / n;
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], cpu_ms, cands as f64 / n))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let data = args.data.unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
    });
    let params = DetectParams::default();
    let mut backends: Vec<(String, Box<dyn Localizer>)> = vec![
        (
            "native-1t".into(),
            Box::new(NativeLocalizer::new(params.clone(), Some(1))?),
        ),
        (
            "native-all".into(),
            Box::new(NativeLocalizer::new(params.clone(), None)?),
        ),
    ];
    let wanted = |b: &str| args.backends.is_empty() || args.backends.iter().any(|w| w == b);
    if wanted("wgpu") {
        match WgpuLocalizer::new(params) {
            Ok(w) => backends.push(("wgpu".into(), Box::new(w))),
            Err(e) => eprintln!("wgpu backend unavailable, not measured: {e}"),
        }
    }
    backends.retain(|(name, _)| wanted(name));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    println!(
        "{:<11} {:<44} {:>10} {:>6} {:>10} {:>10} {:>10}",
        "backend", "adapter", "size", "batch", "ms/frame", "cpu ms/fr", "cands"
    );
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let (pixels, source) = frame(&data, w, h);
        eprintln!("{w}×{h}: {source}");
        let one = LumaView::packed(&pixels, w, h)?;
        for (name, loc) in backends.iter_mut() {
            for batch in [1usize, 8] {
                let frames = vec![one; batch];
                let (ms, cpu_ms, cands) = measure(loc.as_mut(), &frames, args.seconds)?;
                let row = Row {
                    backend: name.clone(),
                    adapter: loc.info().adapter.clone(),
                    size: format!("{w}x{h}"),
                    batch,
                    ms_per_frame: ms,
                    cpu_ms_per_frame: cpu_ms,
                    candidates: cands,
                };
                println!(
                    "{:<11} {:<44} {:>10} {:>6} {:>10.2} {:>10.2} {:>10.1}",
                    row.backend,
                    row.adapter,
                    row.size,
                    row.batch,
                    row.ms_per_frame,
                    row.cpu_ms_per_frame,
                    row.candidates
                );
                rows.push(row);
            }
        }
    }
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "backend": r.backend, "adapter": r.adapter, "size": r.size, "batch": r.batch,
                "ms_per_frame": (r.ms_per_frame * 1000.0).round() / 1000.0,
                "cpu_ms_per_frame": (r.cpu_ms_per_frame * 1000.0).round() / 1000.0,
                "candidates_per_frame": r.candidates,
            })
        })
        .collect();
    let pick = |b: &str, s: &str| {
        rows.iter()
            .find(|r| r.backend == b && r.size == s && r.batch == 1)
            .map(|r| r.ms_per_frame)
    };
    println!(
        "{}",
        serde_json::json!({
            "bench": "kernels",
            "cores": cores,
            "native_1t_720p_ms": pick("native-1t", "1280x720"),
            "native_all_720p_ms": pick("native-all", "1280x720"),
            "native_1t_720p_cpu_ms": rows
                .iter()
                .find(|r| r.backend == "native-1t" && r.size == "1280x720" && r.batch == 1)
                .map(|r| (r.cpu_ms_per_frame * 1000.0).round() / 1000.0),
            "wgpu_720p_ms": pick("wgpu", "1280x720"),
            "results": results,
        })
    );
    Ok(())
}
