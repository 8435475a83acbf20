//! `custos eval ocr`: reads labelled plate crops (or crops cut from labelled full images) with
//! the OCR model and scores them as the OpenALPR benchmark does: letters and digits only, and on
//! US plates the letter O and the digit 0 count as the same character.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use custos_core::PlateText;
use custos_core::Region;
use custos_eval::manifest::Table;
use custos_ocr::{GrayCrop, OnnxRecognizer, Recognizer};
use custos_track::{Ballot, FormatPriors, PriorConfig};

#[derive(clap::Args)]
pub struct OcrArgs {
    /// Crops with text: `image<TAB>…<TAB>plate` with a header (e.g. alpr-bench/ocr-crops/labels.tsv).
    #[arg(
        long,
        conflicts_with = "manifest",
        required_unless_present = "manifest"
    )]
    labels: Option<PathBuf>,
    /// Full images with boxes: `image region x y w h plate` (alpr-bench/MANIFEST.tsv); each box is
    /// cut out with a small margin.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Directory the image paths are relative to (default: the label file's own).
    #[arg(long)]
    root: Option<PathBuf>,
    /// The ONNX model (default: the config's, else the committed models/ocr.onnx).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Config file whose `[ocr]` section (model, runtime library, providers) applies.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Apply the plate format priors of each sample's region (`us`, `eu` or `br`), as a camera
    /// configured with `[priors] regions = [...]` does: a read that fits none of the region's
    /// patterns is repaired with the OCR's own alternatives where they support one. Off by
    /// default: the plain figures are the model's alone.
    #[arg(long)]
    region_priors: bool,
    /// Views of each crop read and voted on (1–7), instead of the config's `[ocr] views`.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
    views: Option<u8>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// One labelled sample: its group (US state, region or source), truth, and grey pixels.
struct Sample {
    group: String,
    /// The plate region, where the labels say it (US plates score O as 0; `--region-priors`).
    region: Option<Region>,
    truth: String,
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

pub fn run(a: OcrArgs) -> Result<()> {
    let (file, from_manifest) = match (&a.labels, &a.manifest) {
        (Some(l), None) => (l.clone(), false),
        (None, Some(m)) => (m.clone(), true),
        _ => bail!("give exactly one of --labels or --manifest"),
    };
    let root = a
        .root
        .clone()
        .unwrap_or_else(|| file.parent().map(Path::to_path_buf).unwrap_or_default());
    let samples = load(&file, &root, from_manifest)?;
    if samples.is_empty() {
        bail!("{}: no labelled rows", file.display());
    }
    let ocr = match &a.config {
        Some(path) => crate::config::Config::load(path)?.ocr,
        None => custos_ocr::OcrConfig::default(),
    };
    let model = a.model.clone().unwrap_or_else(|| ocr.model_path());
    let mut runtime = ocr.runtime();
    if let Some(views) = a.views {
        runtime.views = views.into();
    }
    let mut recognizer = OnnxRecognizer::load(&model, &runtime)?;

    let started = Instant::now();
    let mut reads = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(32) {
        let crops: Vec<GrayCrop> = chunk
            .iter()
            .map(|s| GrayCrop {
                width: s.width,
                height: s.height,
                stride: s.width,
                pixels: &s.pixels,
            })
            .collect();
        reads.extend(recognizer.recognize(&crops)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let reads: Vec<String> = samples
        .iter()
        .zip(reads)
        .map(|(s, read)| match s.region.filter(|_| a.region_priors) {
            Some(region) => with_priors(region, &read),
            None => read.text,
        })
        .collect();
    let report = Report::new(
        &samples,
        &reads,
        seconds,
        recognizer.provider().to_string(),
        runtime.views,
    );
    if a.json {
        println!("{}", serde_json::to_string(&report.json())?);
    } else {
        report.print();
    }
    Ok(())
}

fn load(file: &Path, root: &Path, from_manifest: bool) -> Result<Vec<Sample>> {
    let table = Table::read(file)?;
    let col = |name: &str| table.column(name);
    let plate_col = col("plate")
        .with_context(|| format!("{}: header has no `plate` column", file.display()))?;
    let image_col = col("image")
        .with_context(|| format!("{}: header has no `image` column", file.display()))?;
    // Per-region (manifest), per-state (US crops) or per-source (training crops) breakdown.
    let group_col = col("region")
        .or_else(|| col("state"))
        .or_else(|| col("source"));
    let is_us_crops = col("state").is_some();
    let mut samples = Vec::new();
    for row in table.rows() {
        let line_no = row.line;
        let field = |c: usize| {
            row.get(c)
                .with_context(|| format!("{}:{line_no}: missing column {}", file.display(), c + 1))
        };
        let path = root.join(field(image_col)?);
        let group = group_col
            .map(|c| field(c).map(str::to_owned))
            .transpose()?
            .unwrap_or_else(|| "all".into());
        let us = is_us_crops || group == "us";
        let region = match group.as_str() {
            _ if us => Some(Region::Us),
            "eu" => Some(Region::Eu),
            "br" => Some(Region::Br),
            _ => None,
        };
        // Trust the bytes, not the extension: some benchmark files are JPEGs named .png.
        let img = image::ImageReader::open(&path)
            .and_then(|r| r.with_guessed_format())
            .map_err(image::ImageError::IoError)
            .and_then(|r| r.decode())
            .with_context(|| {
                format!(
                    "{}:{line_no}: cannot read image {}",
                    file.display(),
                    path.display()
                )
            })?
            .to_rgb8();
        let img = bt601_gray(&img);
        let img = if from_manifest {
            // Boxes may reach past the image edge (x = -1 occurs): clamp to the image.
            let num = |c: usize| -> Result<u32> {
                let v: i64 = field(c)?.trim().parse().with_context(|| {
                    format!(
                        "{}:{line_no}: column {} is not a number",
                        file.display(),
                        c + 1
                    )
                })?;
                Ok(v.clamp(0, i64::from(u32::MAX / 4)) as u32)
            };
            let (x, y, w, h) = (
                num(col("x").unwrap_or(2))?,
                num(col("y").unwrap_or(3))?,
                num(col("w").unwrap_or(4))?,
                num(col("h").unwrap_or(5))?,
            );
            // A little context around the box, as the localiser's crops have.
            let (mx, my) = (w / 20 + 1, h / 8 + 1);
            let x0 = x.saturating_sub(mx).min(img.width().saturating_sub(1));
            let y0 = y.saturating_sub(my).min(img.height().saturating_sub(1));
            let x1 = (x + w + mx).min(img.width()).max(x0 + 1);
            let y1 = (y + h + my).min(img.height()).max(y0 + 1);
            image::imageops::crop_imm(&img, x0, y0, x1 - x0, y1 - y0).to_image()
        } else {
            img
        };
        samples.push(Sample {
            group,
            region,
            truth: score_text(field(plate_col)?, us),
            width: img.width() as usize,
            height: img.height() as usize,
            pixels: img.into_raw(),
        });
    }
    Ok(samples)
}

/// The text a camera with `region`'s format priors reports for this one read.
fn with_priors(region: Region, read: &PlateText) -> String {
    let config = PriorConfig {
        regions: vec![region.into()],
        ..PriorConfig::default()
    };
    let priors = FormatPriors::new(&config).expect("built-in regions and defaults are valid");
    let mut ballot = Ballot::new();
    ballot.add(read);
    priors
        .decide(&ballot, 8)
        .map_or_else(|| read.text.clone(), |v| v.text)
}

/// Grey as the model was trained (BT.601 luma, as PIL and `plategen` compute it; the image crate's
/// own conversion uses BT.709 weights, which shifts coloured plates).
fn bt601_gray(rgb: &image::RgbImage) -> image::GrayImage {
    image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        let v = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000;
        image::Luma([v as u8])
    })
}

/// Letters and digits only, upper case; on US plates O is 0.
fn score_text(text: &str, us: bool) -> String {
    let t = custos_core::normalize_plate(text);
    if us { t.replace('O', "0") } else { t }
}

#[derive(Default)]
struct Tally {
    n: usize,
    exact: usize,
    chars: usize,
    char_errors: usize,
}

impl Tally {
    fn add(&mut self, truth: &str, read: &str) {
        self.n += 1;
        self.exact += usize::from(truth == read);
        self.chars += truth.len();
        self.char_errors +=
            custos_core::edit_distance(truth.as_bytes(), read.as_bytes()).min(truth.len());
    }
    fn exact(&self) -> f64 {
        self.exact as f64 / self.n.max(1) as f64
    }
    fn char_accuracy(&self) -> f64 {
        1.0 - self.char_errors as f64 / self.chars.max(1) as f64
    }
}

struct Report {
    all: Tally,
    groups: BTreeMap<String, Tally>,
    confusions: BTreeMap<(char, char), usize>,
    examples: Vec<(String, String)>,
    plates_per_s: f64,
    provider: String,
    views: usize,
}

impl Report {
    fn new(
        samples: &[Sample],
        reads: &[String],
        seconds: f64,
        provider: String,
        views: usize,
    ) -> Self {
        let mut r = Report {
            all: Tally::default(),
            groups: BTreeMap::new(),
            confusions: BTreeMap::new(),
            examples: Vec::new(),
            plates_per_s: samples.len() as f64 / seconds.max(1e-9),
            provider,
            views,
        };
        for (s, read) in samples.iter().zip(reads) {
            let read = score_text(read, s.region == Some(Region::Us));
            r.all.add(&s.truth, &read);
            r.groups
                .entry(s.group.clone())
                .or_default()
                .add(&s.truth, &read);
            if read != s.truth {
                if read.len() == s.truth.len() {
                    for (t, g) in s.truth.chars().zip(read.chars()).filter(|(t, g)| t != g) {
                        *r.confusions.entry((t, g)).or_default() += 1;
                    }
                }
                r.examples.push((s.truth.clone(), read));
            }
        }
        r
    }

    fn top_confusions(&self) -> Vec<((char, char), usize)> {
        let mut v: Vec<_> = self.confusions.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        v.truncate(12);
        v
    }

    fn print(&self) {
        println!(
            "{:<12} {:>5} {:>12} {:>14}",
            "group", "n", "plate exact", "char accuracy"
        );
        for (name, t) in std::iter::once(("all", &self.all))
            .chain(self.groups.iter().map(|(k, v)| (k.as_str(), v)))
        {
            println!(
                "{:<12} {:>5} {:>11.1}% {:>13.1}%",
                name,
                t.n,
                100.0 * t.exact(),
                100.0 * t.char_accuracy()
            );
        }
        println!(
            "\nplates/s: {:.0} (batch 32, {} view(s) a crop, provider {})",
            self.plates_per_s, self.views, self.provider
        );
        let conf: Vec<String> = self
            .top_confusions()
            .iter()
            .map(|((t, g), n)| format!("{t}→{g} ×{n}"))
            .collect();
        println!("top confusions (truth→read): {}", conf.join(", "));
        let ex: Vec<String> = self
            .examples
            .iter()
            .take(15)
            .map(|(t, g)| format!("{t}→{g}"))
            .collect();
        println!("misread examples: {}", ex.join(", "));
    }

    fn json(&self) -> serde_json::Value {
        let per_region: serde_json::Map<String, serde_json::Value> = self
            .groups
            .iter()
            .map(|(k, t)| (k.clone(), serde_json::json!({"n": t.n, "plate_exact": t.exact(), "char_accuracy": t.char_accuracy()})))
            .collect();
        serde_json::json!({
            "n": self.all.n,
            "plate_exact": self.all.exact(),
            "char_accuracy": self.all.char_accuracy(),
            "per_region": per_region,
            "plates_per_s": self.plates_per_s,
            "views": self.views,
            "provider": self.provider,
            "confusions": self.top_confusions().iter().map(|((t, g), n)| format!("{t}>{g}:{n}")).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoring_follows_the_benchmark() {
        assert_eq!(score_text("ab-0o1", true), "AB001");
        assert_eq!(score_text("ab-0o1", false), "AB0O1");
        let mut t = Tally::default();
        t.add("ABC123", "ABC123");
        t.add("ABC123", "ABD12");
        assert_eq!(t.exact(), 0.5);
        assert!((t.char_accuracy() - (1.0 - 2.0 / 12.0)).abs() < 1e-9);
    }

    /// A Brazilian read with a letter where the format has a digit: the region's priors take
    /// the OCR's own alternative; a read the model does not support stays as read.
    #[test]
    fn region_priors_repair_with_the_models_alternatives() {
        let read = |alt: f32| {
            PlateText::from_chars(
                "ABCI234"
                    .chars()
                    .map(|ch| custos_core::CharRead {
                        ch,
                        confidence: if ch == 'I' { 0.6 } else { 0.95 },
                        alternatives: if ch == 'I' { vec![('1', alt)] } else { vec![] },
                    })
                    .collect(),
            )
        };
        assert_eq!(with_priors(Region::Br, &read(0.35)), "ABC1234");
        assert_eq!(with_priors(Region::Br, &read(0.01)), "ABCI234");
        assert_eq!(with_priors(Region::Eu, &read(0.35)), "ABCI234");
    }
}
