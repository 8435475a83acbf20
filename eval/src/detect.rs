//! Detection evaluation on labelled images: reading the two manifest formats of
//! `../shared/data`, decoding JPEGs to luma, and scoring candidates against the labelled boxes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use custos_core::{Candidate, iou};
use serde::Serialize;
use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};

use custos_kernels::{KernelError, Localizer, LumaView};

use crate::manifest::{ManifestError, Table};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("cannot decode JPEG {path}: {reason}")]
    Jpeg { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Kernel { path: PathBuf, source: KernelError },
}

/// One image and its labelled plates, boxes as `[x0, y0, x1, y1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// Relative to the manifest's root directory.
    pub image: PathBuf,
    /// `alpr-bench`'s region column (`us`, `eu`, `br`); `None` for manifests without one.
    pub region: Option<String>,
    pub boxes: Vec<[f32; 4]>,
}

/// Reads a manifest: `alpr-bench/MANIFEST.tsv` (`image region x y w h plate`) or
/// `detect-dashcam-ro/boxes.tsv` (`image x y w h`), told apart by the header; rows of the same
/// image are grouped, in first-seen order.
pub fn read_manifest(path: &Path) -> Result<Vec<Labelled>, EvalError> {
    let table = Table::read(path)?;
    let col = |name: &str| table.column(name);
    let (Some(ci), Some(cx), Some(cy), Some(cw), Some(ch)) =
        (col("image"), col("x"), col("y"), col("w"), col("h"))
    else {
        let header = table.header();
        return Err(table
            .error(
                1,
                format!("header {header:?} lacks one of image, x, y, w, h"),
            )
            .into());
    };
    let cr = col("region");
    let mut out: Vec<Labelled> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for row in table.rows() {
        let num = |c: usize| row.number(c).map(|v| v as f32);
        let image = row.get(ci)?.to_string();
        let (x, y, w, h) = (num(cx)?, num(cy)?, num(cw)?, num(ch)?);
        let region = cr.map(|c| row.get(c)).transpose()?.map(str::to_string);
        let at = *index.entry(image.clone()).or_insert_with(|| {
            out.push(Labelled {
                image: PathBuf::from(&image),
                region,
                boxes: Vec::new(),
            });
            out.len() - 1
        });
        out[at].boxes.push([x, y, x + w, y + h]);
    }
    Ok(out)
}

/// A decoded grayscale image (JPEG luma, BT.601 like the video planes).
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl GrayImage {
    pub fn view(&self) -> Result<LumaView<'_>, KernelError> {
        LumaView::packed(&self.data, self.width, self.height)
    }
}

/// Decodes a JPEG file to its luma channel.
pub fn load_gray(path: &Path) -> Result<GrayImage, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let jpeg_err = |reason: String| EvalError::Jpeg {
        path: path.to_path_buf(),
        reason,
    };
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&bytes), options);
    let data = dec.decode().map_err(|e| jpeg_err(format!("{e:?}")))?;
    let info = dec
        .info()
        .ok_or_else(|| jpeg_err("no image header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if data.len() != width as usize * height as usize {
        return Err(jpeg_err(format!(
            "decoded {} bytes for {width}×{height} luma",
            data.len()
        )));
    }
    Ok(GrayImage {
        width,
        height,
        data,
    })
}

/// How one image scored.
#[derive(Clone, Debug, Serialize)]
pub struct ImageResult {
    pub image: String,
    pub region: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Per labelled box: the best IoU any candidate reached.
    pub best_iou: Vec<f32>,
    /// Per labelled box: the box of the candidate that reached it (none without candidates).
    pub best_box: Vec<Option<[f32; 4]>>,
    pub boxes: Vec<[f32; 4]>,
    pub candidates: usize,
    /// Candidates with IoU ≥ 0.3 to some labelled plate.
    pub candidates_on_plate: usize,
    pub ms: f64,
}

/// Scores one image's candidates against its labels.
pub fn score_image(
    label: &Labelled,
    width: u32,
    height: u32,
    cands: &[Candidate],
    ms: f64,
) -> ImageResult {
    let (best_iou, best_box) = label
        .boxes
        .iter()
        .map(|b| {
            cands
                .iter()
                .map(|c| (iou(*b, c.bbox()), Some(c.bbox())))
                .fold((0.0, None), |best, x| if x.0 > best.0 { x } else { best })
        })
        .unzip();
    let candidates_on_plate = cands
        .iter()
        .filter(|c| label.boxes.iter().any(|b| iou(*b, c.bbox()) >= 0.3))
        .count();
    ImageResult {
        image: label.image.display().to_string(),
        region: label.region.clone(),
        width,
        height,
        best_iou,
        best_box,
        boxes: label.boxes.clone(),
        candidates: cands.len(),
        candidates_on_plate,
        ms,
    }
}

/// Figures for a set of images (one region, or all).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Figures {
    pub n_images: usize,
    pub n_plates: usize,
    pub recall_iou50: f64,
    pub recall_iou30: f64,
    pub candidates_per_image: f64,
    /// Share of candidates with IoU ≥ 0.3 to a labelled plate.
    pub candidate_precision: f64,
    pub ms_per_image: f64,
}

impl Figures {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a ImageResult>) -> Self {
        let mut f = Figures::default();
        let (mut hit50, mut hit30, mut cands, mut on_plate, mut ms) = (0, 0, 0, 0, 0.0);
        for r in results {
            f.n_images += 1;
            f.n_plates += r.best_iou.len();
            hit50 += r.best_iou.iter().filter(|&&v| v >= 0.5).count();
            hit30 += r.best_iou.iter().filter(|&&v| v >= 0.3).count();
            cands += r.candidates;
            on_plate += r.candidates_on_plate;
            ms += r.ms;
        }
        let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        f.recall_iou50 = ratio(hit50 as f64, f.n_plates);
        f.recall_iou30 = ratio(hit30 as f64, f.n_plates);
        f.candidates_per_image = ratio(cands as f64, f.n_images);
        f.candidate_precision = ratio(on_plate as f64, cands);
        f.ms_per_image = ratio(ms, f.n_images);
        f
    }
}

/// The whole evaluation: overall figures, per region where the manifest has regions, and each
/// image's result (for finding where misses are).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub backend: String,
    pub adapter: String,
    #[serde(flatten)]
    pub overall: Figures,
    pub by_region: BTreeMap<String, Figures>,
    #[serde(skip)]
    pub images: Vec<ImageResult>,
}

/// Runs the localizer on every labelled image under `root`, one image per call (so the time is
/// per image, decoding excluded), and scores it.
pub fn evaluate(
    loc: &mut dyn Localizer,
    labels: &[Labelled],
    root: &Path,
) -> Result<Report, EvalError> {
    let mut images = Vec::with_capacity(labels.len());
    for label in labels {
        let path = root.join(&label.image);
        let img = load_gray(&path)?;
        let kerr = |source| EvalError::Kernel {
            path: path.clone(),
            source,
        };
        let view = img.view().map_err(kerr)?;
        let t = Instant::now();
        let cands = loc.localize(&[view]).map_err(kerr)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let cands = cands.into_iter().next().unwrap_or_default();
        images.push(score_image(label, img.width, img.height, &cands, ms));
    }
    let mut regions: BTreeMap<String, Vec<&ImageResult>> = BTreeMap::new();
    for r in &images {
        if let Some(region) = &r.region {
            regions.entry(region.clone()).or_default().push(r);
        }
    }
    let by_region = regions
        .into_iter()
        .map(|(k, v)| (k, Figures::of(v)))
        .collect();
    Ok(Report {
        backend: loc.info().kind.to_string(),
        adapter: loc.info().adapter.clone(),
        overall: Figures::of(&images),
        by_region,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_both_manifest_formats() {
        let dir = std::env::temp_dir().join(format!("custos-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = write(
            &dir,
            "a.tsv",
            "image\tregion\tx\ty\tw\th\tplate\nus/a.jpg\tus\t10\t20\t30\t15\tABC123\n",
        );
        let l = read_manifest(&a).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].region.as_deref(), Some("us"));
        assert_eq!(l[0].boxes, vec![[10.0, 20.0, 40.0, 35.0]]);
        let b = write(
            &dir,
            "b.tsv",
            "image\tx\ty\tw\th\ni/1.jpg\t1\t2\t3\t4\ni/2.jpg\t0\t0\t1\t1\ni/1.jpg\t5\t6\t7\t8\n",
        );
        let l = read_manifest(&b).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].boxes.len(), 2);
        assert_eq!(l[0].region, None);
        let bad = write(&dir, "c.tsv", "image\tx\ty\tw\th\ni/1.jpg\t1\tzz\t3\t4\n");
        let err = read_manifest(&bad).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("zz"), "{err}");
        let nohdr = write(&dir, "d.tsv", "foo\tbar\n");
        assert!(read_manifest(&nohdr).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn figures_count_recall_and_precision() {
        let label = Labelled {
            image: "x.jpg".into(),
            region: None,
            boxes: vec![[0.0, 0.0, 100.0, 20.0], [200.0, 0.0, 300.0, 20.0]],
        };
        let cands = [
            Candidate::from_rect(0.0, 0.0, 100.0, 20.0, 1.0),
            Candidate::from_rect(200.0, 0.0, 40.0, 20.0, 0.5),
            Candidate::from_rect(500.0, 500.0, 10.0, 10.0, 0.1),
        ];
        let r = score_image(&label, 640, 480, &cands, 2.0);
        let f = Figures::of([&r]);
        assert_eq!((f.n_images, f.n_plates), (1, 2));
        assert_eq!(f.recall_iou50, 0.5);
        assert_eq!(f.recall_iou30, 1.0);
        assert!((f.candidate_precision - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.candidates_per_image, 3.0);
    }
}
