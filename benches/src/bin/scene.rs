//! The synthetic road scene's render cost: ms per frame at 720p and 1080p, so the test cameras'
//! own load is known when a benchmark runs them beside the product. Each (deterministic) frame is
//! rendered three times and its fastest time kept, so other load on the machine does not show up
//! as slow frames. `--dump DIR` also writes a few frames and plates as PPM, for looking at.
//! Prints a table, then one JSON object on the last line.

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use custos_synth::plate::{PlateFonts, PlateSpec};
use custos_synth::scene::{Scene, SceneConfig};

#[derive(Parser, Debug)]
#[command(about = "ms per frame of the synthetic road scene")]
struct Args {
    /// Frames rendered per resolution (each three times).
    #[arg(long, default_value_t = 1500)]
    frames: usize,
    /// Also write frames and plates as PPM images into this directory.
    #[arg(long)]
    dump: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let fonts = Arc::new(PlateFonts::load().context("plate fonts (scripts/setup installs them)")?);
    if let Some(dir) = &args.dump {
        dump(dir, &fonts)?;
    }
    println!(
        "{:<10}{:>12}{:>10}{:>12}",
        "size", "mean ms", "p99 ms", "worst ms"
    );
    let mut rows = Vec::new();
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let n = args.frames.max(1);
        let mut best = vec![f64::MAX; n];
        for _ in 0..3 {
            let mut scene = Scene::new(config(w, h, 3), fonts.clone());
            let mut buf = vec![0u8; scene.frame_len()];
            for t in &mut best {
                let start = Instant::now();
                std::hint::black_box(scene.render_next(&mut buf));
                *t = t.min(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        let mean = best.iter().sum::<f64>() / n as f64;
        let worst = best.iter().copied().fold(0.0, f64::max);
        best.sort_by(f64::total_cmp);
        let p99 = best[n * 99 / 100];
        println!(
            "{:<10}{mean:>12.3}{p99:>10.3}{worst:>12.3}",
            format!("{w}x{h}")
        );
        rows.push(serde_json::json!({"width": w, "height": h, "mean_ms": mean, "p99_ms": p99, "worst_ms": worst}));
    }
    println!(
        "{}",
        serde_json::json!({"bench": "scene", "frames": args.frames, "sizes": rows})
    );
    Ok(())
}

fn config(width: u32, height: u32, seed: u64) -> SceneConfig {
    SceneConfig {
        width,
        height,
        fps: 25,
        seed,
    }
}

/// A few 720p frames and twelve random plates, as PPM; each pass's plate widths on stderr.
fn dump(dir: &std::path::Path, fonts: &Arc<PlateFonts>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (w, h) = (1280usize, 720usize);
    let mut scene = Scene::new(config(w as u32, h as u32, 5), fonts.clone());
    let mut buf = vec![0u8; scene.frame_len()];
    for i in 0..400u64 {
        let passes = scene.render_next(&mut buf);
        if i % 40 == 20 {
            let path = dir.join(format!("scene-{i:03}.ppm"));
            std::fs::write(&path, i420_to_ppm(&buf, w, h))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        for p in passes {
            let widths: Vec<_> = p.boxes.iter().step_by(10).map(|b| b.w).collect();
            eprintln!(
                "{} {} {}..{} widths {widths:?}",
                p.plate, p.region, p.first_frame, p.last_frame
            );
        }
    }
    let mut rng = fastrand::Rng::with_seed(9);
    for i in 0..12 {
        let spec = PlateSpec::random(&mut rng);
        let img = spec.render(fonts, 300, &mut rng);
        let mut ppm = format!("P6\n{} {}\n255\n", img.width, img.height).into_bytes();
        ppm.extend(img.pixels.iter().flat_map(|p| p.map(to_u8)));
        let path = dir.join(format!("plate-{i:02}-{}.ppm", spec.text));
        std::fs::write(&path, ppm).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("wrote frames and plates to {}", dir.display());
    Ok(())
}

fn to_u8(v: f32) -> u8 {
    // As the scene does: `as` saturates, adding 0.5 rounds.
    (v + 0.5) as u8
}

fn i420_to_ppm(buf: &[u8], w: usize, h: usize) -> Vec<u8> {
    let cw = w.div_ceil(2);
    let (y, rest) = buf.split_at(w * h);
    let (u, v) = rest.split_at(cw * h.div_ceil(2));
    let mut out = format!("P6\n{w} {h}\n255\n").into_bytes();
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * cw + col / 2;
            let (yy, uu, vv) = (
                (f32::from(y[row * w + col]) - 16.0) * 1.164,
                f32::from(u[c]) - 128.0,
                f32::from(v[c]) - 128.0,
            );
            out.extend(
                [
                    yy + 1.596 * vv,
                    yy - 0.392 * uu - 0.813 * vv,
                    yy + 2.017 * uu,
                ]
                .map(to_u8),
            );
        }
    }
    out
}
