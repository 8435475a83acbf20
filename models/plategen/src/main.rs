//! `plategen`: writes synthetic training crops for the OCR model.
//!
//! Output: `crops.npy` (uint8, N × H × W grayscale) and `labels.txt` (one plate text a line, in
//! the same order). Deterministic for a seed. Run by `models/train.py`, never by CI.

mod augment;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use custos_pipeline::testcam::plate::{ALL_LETTERS, COMMON_LETTERS, PlateFonts, PlateSpec};

#[derive(Parser)]
struct Args {
    /// Directory to write crops.npy and labels.txt into.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Crop height the model reads.
    #[arg(long, default_value_t = 48)]
    height: usize,
    /// Crop width the model reads.
    #[arg(long, default_value_t = 160)]
    width: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let fonts = PlateFonts::load()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let mut pixels = Vec::with_capacity(args.count * args.width * args.height);
    let mut labels = String::new();
    for _ in 0..args.count {
        // One plate in five uses every letter, so the model learns I, O and Q too.
        let letters = if rng.u8(..5) == 0 {
            ALL_LETTERS
        } else {
            COMMON_LETTERS
        };
        let spec = PlateSpec::random_with_letters(&mut rng, letters);
        // Render with enough detail for the largest plates; `degrade` brings it down.
        let flat = spec.render(&fonts, 200 + rng.usize(..200), &mut rng);
        let crop = augment::degrade(&flat, args.width, args.height, &mut rng);
        pixels.extend(crop.to_u8());
        labels.push_str(&spec.text);
        labels.push('\n');
    }
    custos_plategen::write_npy(
        &args.out.join("crops.npy"),
        &pixels,
        [args.count, args.height, args.width],
    )?;
    std::fs::write(args.out.join("labels.txt"), labels).context("cannot write labels.txt")?;
    Ok(())
}
