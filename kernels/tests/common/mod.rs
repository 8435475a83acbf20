//! Shared by the kernels' integration tests: real data paths, generated scenes, backends.
#![allow(dead_code)]

use std::path::PathBuf;

use custos_kernels::{DetectParams, NativeLocalizer, WgpuLocalizer, eval};

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

/// A deterministic generated grey frame: smooth shading, mild noise, and plate-like patches
/// (light rectangle, dark border, rows of dark character strokes). Rows are `stride` apart.
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub data: Vec<u8>,
    /// `[x0, y0, x1, y1]` of each plate.
    pub plates: Vec<[f32; 4]>,
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
    for &(px, py, pw, ph) in plates {
        for y in py..py + ph {
            for x in px..px + pw {
                let border = y == py || y + 1 == py + ph || x == px || x + 1 == px + pw;
                put(x, y, if border { 40 } else { 215 });
            }
        }
        // Seven character cells with two or three strokes each, text 60 % of the height.
        let (ty0, ty1) = (py + ph / 5, py + ph - ph / 5);
        let cell = (pw - pw / 10) / 7;
        let stroke = (cell / 5).max(1);
        for c in 0..7 {
            let cx = px + pw / 20 + c * cell;
            let mut cols = vec![cx + stroke, cx + cell - 2 * stroke];
            if c % 2 == 0 {
                cols.push(cx + cell / 2 - stroke / 2);
            }
            for x0 in cols {
                for x in x0..x0 + stroke {
                    for y in ty0..ty1 {
                        put(x, y, 35);
                    }
                }
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
