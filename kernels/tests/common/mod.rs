//! Shared by the kernels' integration tests: real data paths, generated scenes, backends.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::PathBuf;

use custos_eval as eval;
use custos_kernels::{DetectParams, NativeLocalizer, WgpuLocalizer};

/// `../shared/data` beside the repository (CI clones it there too).
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
}

/// The first `n` labelled images of a manifest under `../shared/data`, with their luma decoded.
/// Fails (never skips) when the data is missing: the tests are meant to run on it.
pub fn real_images(
    manifest: &str,
    n: usize,
    keep: impl Fn(&eval::Labelled) -> bool,
) -> Vec<(eval::Labelled, eval::GrayImage)> {
    let path = data_dir().join(manifest);
    let labels = eval::read_manifest(&path).unwrap_or_else(|e| {
        panic!("real data missing ({e}); ../shared/data must sit beside the repository")
    });
    let root = path.parent().unwrap().to_path_buf();
    labels
        .into_iter()
        .filter(|l| keep(l))
        .take(n)
        .map(|l| {
            let img = eval::load_gray(&root.join(&l.image)).unwrap();
            (l, img)
        })
        .collect()
}

pub fn native() -> NativeLocalizer {
    NativeLocalizer::new(DetectParams::default(), None).unwrap()
}

/// The wgpu backend. Panics when no adapter exists: these tests must fail loudly, not pass
/// without having run the WGSL (scripts/setup installs lavapipe so CI has an adapter).
pub fn wgpu() -> WgpuLocalizer {
    WgpuLocalizer::new(DetectParams::default()).unwrap_or_else(|e| {
        panic!("the wgpu backend is required for this test and did not open: {e}")
    })
}

/// A deterministic generated grey frame: smooth shading, mild noise, and real plates pasted at
/// the given boxes. The plates are cut from the EU photos of `alpr-bench` (never used to train
/// the detector), so finding them tests the real detector on real plate texture at every size.
/// Rows are `stride` apart.
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub data: Vec<u8>,
    /// `[x0, y0, x1, y1]` of each plate.
    pub plates: Vec<[f32; 4]>,
}

/// Grey plates cut out of real photos (their labelled boxes), loaded once per test binary.
fn real_plates() -> &'static [eval::GrayImage] {
    static PLATES: std::sync::OnceLock<Vec<eval::GrayImage>> = std::sync::OnceLock::new();
    PLATES.get_or_init(|| {
        real_images("alpr-bench/MANIFEST.tsv", 6, |l| {
            l.region.as_deref() == Some("eu")
        })
        .into_iter()
        .map(|(label, img)| {
            let [x0, y0, x1, y1] = label.boxes[0].map(|v| v.max(0.0) as u32);
            let (w, h) = (x1.min(img.width) - x0, y1.min(img.height) - y0);
            let mut data = Vec::with_capacity((w * h) as usize);
            for y in y0..y0 + h {
                let row = (y * img.width) as usize;
                data.extend_from_slice(&img.data[row + x0 as usize..row + (x0 + w) as usize]);
            }
            eval::GrayImage {
                width: w,
                height: h,
                data,
            }
        })
        .collect()
    })
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

pub fn scene(
    width: u32,
    height: u32,
    pad: usize,
    plates: &[(u32, u32, u32, u32)],
    seed: u64,
) -> Scene {
    let stride = width as usize + pad;
    let mut data = vec![0u8; stride * height as usize];
    let mut rng = Lcg(seed);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let shade = 60.0 + 80.0 * (x as f32 / width as f32) + 40.0 * (y as f32 / height as f32);
            let noise = (rng.next() % 9) as f32 - 4.0;
            data[y * stride + x] = (shade + noise) as u8;
        }
    }
    let mut put = |x: u32, y: u32, v: u8| {
        if x < width && y < height {
            data[y as usize * stride + x as usize] = v;
        }
    };
    let real = if plates.is_empty() {
        &[][..]
    } else {
        real_plates()
    };
    for (k, &(px, py, pw, ph)) in plates.iter().enumerate() {
        // Bilinear resize of a real plate into the box.
        let src = &real[(k + seed as usize) % real.len()];
        for y in 0..ph {
            for x in 0..pw {
                let sx = ((x as f32 + 0.5) * src.width as f32 / pw as f32 - 0.5).max(0.0);
                let sy = ((y as f32 + 0.5) * src.height as f32 / ph as f32 - 0.5).max(0.0);
                let (x0, y0) = (sx as u32, sy as u32);
                let (x1, y1) = ((x0 + 1).min(src.width - 1), (y0 + 1).min(src.height - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let p = |x: u32, y: u32| src.data[(y * src.width + x) as usize] as f32;
                let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                put(px + x, py + y, (top * (1.0 - fy) + bottom * fy) as u8);
            }
        }
    }
    Scene {
        width,
        height,
        stride,
        data,
        plates: plates
            .iter()
            .map(|&(x, y, w, h)| [x as f32, y as f32, (x + w) as f32, (y + h) as f32])
            .collect(),
    }
}

impl Scene {
    pub fn view(&self) -> custos_kernels::LumaView<'_> {
        custos_kernels::LumaView::new(&self.data, self.width, self.height, self.stride).unwrap()
    }
}
