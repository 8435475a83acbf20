//! `scenegen`: writes synthetic road-scene frames with plate boxes for the plate detector.
//!
//! Output: `frames.npy` (uint8, N × H × W luma) and `boxes.tsv` (`frame x y w h`, one row per
//! visible plate). Deterministic for a seed. Run by `models/train_detector.py`, never by CI.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use custos_synth::plate::PlateFonts;
use custos_synth::scene::{Scene, SceneConfig};

#[derive(Parser)]
struct Args {
    /// Directory to write frames.npy and boxes.tsv into.
    #[arg(long)]
    out: PathBuf,
    /// Frames to keep.
    #[arg(long, default_value_t = 400)]
    count: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Frames kept per scene (a fresh scene gives a fresh road and light).
    #[arg(long, default_value_t = 20)]
    per_scene: usize,
}

/// Frames rendered per kept frame: vehicles cross the frame in a few seconds.
const STRIDE: u64 = 7;
/// The road starts empty: skip the first frames of a scene.
const WARM_UP: u64 = 100;
/// Extra frames rendered after the last kept one, so that every plate visible in a kept frame
/// has left the frame and been reported with its boxes.
const TAIL: u64 = 400;

fn main() -> Result<()> {
    let args = Args::parse();
    let fonts = Arc::new(PlateFonts::load()?);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let (w, h) = (1280usize, 720usize);
    let mut frames = Vec::with_capacity(args.count * w * h);
    let mut boxes = String::from("frame\tx\ty\tw\th\n");
    let mut kept = 0usize;
    let mut seed = args.seed.wrapping_mul(1_000_003);
    while kept < args.count {
        seed += 1;
        let config = SceneConfig {
            width: w as u32,
            height: h as u32,
            fps: 25,
            seed,
        };
        let mut scene = Scene::new(config, fonts.clone());
        let mut i420 = vec![0u8; scene.frame_len()];
        let take = args.per_scene.min(args.count - kept) as u64;
        let last = WARM_UP + take * STRIDE;
        let mut index_of = HashMap::new();
        let mut passes = Vec::new();
        for frame in 0..last + TAIL {
            passes.extend(scene.render_next(&mut i420));
            if (WARM_UP..last).contains(&frame) && (frame - WARM_UP).is_multiple_of(STRIDE) {
                index_of.insert(frame, kept);
                frames.extend_from_slice(&i420[..w * h]);
                kept += 1;
            }
        }
        for b in passes.iter().flat_map(|p| &p.boxes) {
            if let Some(k) = index_of.get(&b.frame) {
                writeln!(boxes, "{k}\t{}\t{}\t{}\t{}", b.x, b.y, b.w, b.h)?;
            }
        }
    }
    custos_plategen::write_npy(&args.out.join("frames.npy"), &frames, [kept, h, w])?;
    std::fs::write(args.out.join("boxes.tsv"), boxes).context("cannot write boxes.tsv")?;
    Ok(())
}
