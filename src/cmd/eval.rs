//! `custos eval`: measures the product on labelled real data. `eval detect` scores plate
//! localisation against a manifest of boxes (alpr-bench or detect-dashcam-ro format).

use std::path::PathBuf;

use anyhow::{Context, Result};
use custos_eval as eval;
use custos_kernels::{BackendChoice, DetectParams};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Plate localisation: recall at IoU ≥ 0.5 and ≥ 0.3, candidates per image, ms per image.
    Detect(DetectArgs),
    /// Plate reading: exact plates and characters, per region or state, confusions, plates/s.
    Ocr(super::eval_ocr::OcrArgs),
}

#[derive(clap::Args)]
pub struct DetectArgs {
    /// Manifest: `image region x y w h plate` (alpr-bench) or `image x y w h` (one row per
    /// plate), tab-separated with a header line.
    #[arg(long)]
    manifest: PathBuf,
    /// Directory the manifest's image paths are relative to (default: the manifest's own).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Kernels backend: auto, native or wgpu.
    #[arg(long, default_value = "auto", value_parser = parse_backend)]
    backend: BackendChoice,
    /// Native backend threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Also list every labelled plate with no candidate at IoU ≥ 0.5.
    #[arg(long)]
    misses: bool,
    /// Detector model file (default: the bundled models/plate-detector.json).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Detector score threshold, 0–1 (default: the detector's own).
    #[arg(long)]
    threshold: Option<f32>,
}

fn parse_backend(s: &str) -> Result<BackendChoice, String> {
    s.parse()
        .map_err(|e: custos_kernels::KernelError| e.to_string())
}

pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Detect(a) => detect(a),
        What::Ocr(a) => super::eval_ocr::run(a),
    }
}

fn detect(a: DetectArgs) -> Result<()> {
    let labels = eval::read_manifest(&a.manifest)?;
    let root = match a.root {
        Some(r) => r,
        None => a
            .manifest
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let params = match &a.model {
        Some(path) => DetectParams::with_model(custos_kernels::DetectorModel::load(path)?),
        None => DetectParams::default(),
    };
    let params = DetectParams {
        threshold: a.threshold.unwrap_or(params.threshold),
        ..params
    };
    let mut loc = custos_kernels::open(a.backend, params, a.threads)
        .context("cannot open the kernels backend")?;
    let report = eval::evaluate(loc.as_mut(), &labels, &root)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("backend: {} on {}", report.backend, report.adapter);
        println!(
            "{:<8} {:>7} {:>7} {:>10} {:>10} {:>11} {:>10} {:>9}",
            "set", "images", "plates", "recall@.5", "recall@.3", "cands/img", "on-plate", "ms/img"
        );
        let row = |name: &str, f: &eval::Figures| {
            println!(
                "{:<8} {:>7} {:>7} {:>9.1}% {:>9.1}% {:>11.2} {:>9.1}% {:>9.2}",
                name,
                f.n_images,
                f.n_plates,
                f.recall_iou50 * 100.0,
                f.recall_iou30 * 100.0,
                f.candidates_per_image,
                f.candidate_precision * 100.0,
                f.ms_per_image
            )
        };
        for (region, f) in &report.by_region {
            row(region, f);
        }
        row("all", &report.overall);
    }
    if a.misses {
        for r in &report.images {
            for ((b, iou), best) in r.boxes.iter().zip(&r.best_iou).zip(&r.best_box) {
                if *iou < 0.5 {
                    let nearest = best.map_or("no candidate".into(), |c| {
                        format!(
                            "nearest candidate {c:?} ({:.0}×{:.0})",
                            c[2] - c[0],
                            c[3] - c[1]
                        )
                    });
                    eprintln!(
                        "miss {} ({}×{}): box {:?} ({:.0}×{:.0}), {nearest}, IoU {:.2}",
                        r.image,
                        r.width,
                        r.height,
                        b,
                        b[2] - b[0],
                        b[3] - b[1],
                        iou
                    );
                }
            }
        }
    }
    Ok(())
}
