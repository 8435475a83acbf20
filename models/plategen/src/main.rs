//! `plategen`: writes synthetic training crops for the OCR model.
//!
//! Output: `crops.npy` (uint8, N × H × W grayscale), `labels.txt` (one plate text a line, in
//! the same order) and `regions.txt` (each crop's region: us, eu, br), so training can weigh
//! the regions. Deterministic for a seed. Run by `models/train.py`, never by CI.

mod augment;
mod wear;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use custos_synth::plate::{
    ALL_LETTERS, COMMON_LETTERS, LETTERING_FACE_PATHS, PlateFonts, PlateSpec, Region,
};

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
    /// Only plates of this region (us, eu, br): for looking at one region's crops.
    #[arg(long)]
    only: Option<String>,
    /// Crop width the model reads.
    #[arg(long, default_value_t = 160)]
    width: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let fonts = PlateFonts::load()?.with_lettering_faces(LETTERING_FACE_PATHS)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    // Each crop has its own generator seeded from (seed, index), so the output does not depend
    // on how the work is split across threads.
    let one = |i: usize| {
        let mut rng =
            fastrand::Rng::with_seed(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64);
        // One plate in five uses every letter, so the model learns I, O and Q too.
        let letters = if rng.u8(..5) == 0 {
            ALL_LETTERS
        } else {
            COMMON_LETTERS
        };
        let mut spec = PlateSpec::random_with_letters(&mut rng, letters);
        // Brazilian plates are the benchmark's weakest region: one crop in ten is drawn again
        // until it is Brazilian (15 % → about 24 % of the crops).
        let want = match args.only.as_deref() {
            Some(r) => Some(r),
            None if i.is_multiple_of(10) => Some("br"),
            None => None,
        };
        while want.is_some_and(|r| spec.region.as_str() != r) {
            spec = PlateSpec::random_with_letters(&mut rng, letters);
        }
        // Half the US plates with a free mix of letters and digits, 4–7 long, so the model does
        // not learn the designs' formats as what US plates say.
        if rng.bool() {
            let len = 4 + rng.usize(..4);
            spec = spec.with_mixed_text(&mut rng, letters, len);
        }
        // A third of them split in two by a mark, dash or space (a real `KC4 * Z3X` was read
        // `KC41Z3X` when mixed lines were all printed as one group and marks never).
        if rng.u8(..3) == 0 {
            spec = spec.with_separator(&mut rng);
        }
        // One in five with stacked small letters or a badge beside the main line, which are not
        // part of the registration (`RT 72LY` is read `72LY`).
        if rng.u8(..5) == 0 {
            spec = spec.with_side_print(&mut rng);
        }
        // Half in another face, width, spacing or size than the design's (`721902` in a wide face
        // was read `72902`, M and W of other faces H and M).
        if rng.bool() {
            spec = spec.with_lettering(&mut rng);
        }
        // Render with enough detail for the largest plates; `degrade` brings it down. Brazilian
        // plates mostly in the real ones' face (their 1 is a bare bar; a quarter keep the test
        // cameras' face, which the model must read too), and worn harder: the benchmark's are dirty.
        let width = 200 + rng.usize(..200);
        let mut flat = if rng.u8(..4) == 0 {
            spec.render(&fonts, width, &mut rng)
        } else {
            spec.render_mandatory(&fonts, width, &mut rng)
        };
        wear::wear(&mut flat, spec.region == Region::Br, &mut rng);
        let crop = augment::degrade(&flat, args.width, args.height, &mut rng);
        (crop.to_u8(), spec.text, spec.region.as_str())
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = args.count.div_ceil(threads).max(1);
    let parts: Vec<Vec<(Vec<u8>, String, &str)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.count)
            .step_by(chunk)
            .map(|start| {
                let one = &one;
                s.spawn(move || (start..(start + chunk).min(args.count)).map(one).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread"))
            .collect()
    });
    let mut pixels = Vec::with_capacity(args.count * args.width * args.height);
    let mut labels = String::new();
    let mut regions = String::new();
    for (crop, text, region) in parts.into_iter().flatten() {
        pixels.extend(crop);
        labels.push_str(&text);
        labels.push('\n');
        regions.push_str(region);
        regions.push('\n');
    }
    custos_plategen::write_npy(
        &args.out.join("crops.npy"),
        &pixels,
        [args.count, args.height, args.width],
    )?;
    std::fs::write(args.out.join("labels.txt"), labels).context("cannot write labels.txt")?;
    std::fs::write(args.out.join("regions.txt"), regions).context("cannot write regions.txt")?;
    Ok(())
}
