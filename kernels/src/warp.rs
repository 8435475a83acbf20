//! Crop + perspective warp + resize + normalise: the geometry shared by both backends (the
//! homography is solved once per crop on the CPU) and the native sampler.

use custos_core::{Quad, geometry};
use rayon::prelude::*;

use crate::{CropJob, CropSpec, LumaView};

/// Maps the unit square to a quad: `(u, v)` ↦ `((a u + b v + c) / w, (d u + e v + f) / w)` with
/// `w = g u + h v + 1`; corners (0,0), (1,0), (1,1), (0,1) go to the quad's TL, TR, BR, BL.
pub type Homography = [f32; 8];

/// The unit-square-to-quad homography, or `None` for a degenerate quad, which has no sensible
/// crop.
pub fn square_to_quad(q: &Quad) -> Option<Homography> {
    geometry::square_to_quad(q).map(|h| h.map(|v| v as f32))
}

/// Frame coordinates of unit-square point (`u`, `v`).
pub fn apply(h: &Homography, u: f32, v: f32) -> [f32; 2] {
    let w = h[6] * u + h[7] * v + 1.0;
    [
        (h[0] * u + h[1] * v + h[2]) / w,
        (h[3] * u + h[4] * v + h[5]) / w,
    ]
}

/// Bilinear sample of the luma plane at frame point (`x`, `y`) (pixel centres at +0.5), edges
/// repeated: the same arithmetic as `warp.wgsl`.
pub fn sample(luma: &LumaView<'_>, x: f32, y: f32) -> f32 {
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    geometry::bilinear(w, h, x - 0.5, y - 0.5, |x, y| {
        f32::from(luma.at_clamped(x as i64, y as i64))
    })
}

/// The unit-square coordinate of output pixel `i` of `n`, widened by the margin on each side.
pub fn unit_coord(i: u32, n: u32, margin: f32) -> f32 {
    (i as f32 + 0.5) / n as f32 * (1.0 + 2.0 * margin) - margin
}

/// Writes one crop (`spec.height × spec.width` floats) into `out`. A degenerate quad gives the
/// normalised value of black, so the slot holds defined data.
pub fn warp_one(luma: &LumaView<'_>, quad: &Quad, spec: &CropSpec, out: &mut [f32]) {
    let h = square_to_quad(quad);
    let w = spec.width as usize;
    out.par_chunks_mut(w).enumerate().for_each(|(oy, row)| {
        let v = unit_coord(oy as u32, spec.height, spec.margin);
        for (ox, o) in row.iter_mut().enumerate() {
            let px = match &h {
                Some(h) => {
                    let u = unit_coord(ox as u32, spec.width, spec.margin);
                    let [x, y] = apply(h, u, v);
                    sample(luma, x, y)
                }
                None => 0.0,
            };
            *o = (px / 255.0 - spec.mean) / spec.std;
        }
    });
}

/// Native crop of every job into its slot of `out` (jobs already checked against the buffer).
pub fn warp_jobs(frames: &[LumaView<'_>], jobs: &[CropJob], spec: &CropSpec, out: &mut [f32]) {
    let n = spec.floats_per_crop();
    for j in jobs {
        let slot = &mut out[j.slot * n..(j.slot + 1) * n];
        warp_one(&frames[j.frame], &j.candidate.quad, spec, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_maps_corners() {
        let quads: [Quad; 3] = [
            [[10.0, 20.0], [110.0, 20.0], [110.0, 50.0], [10.0, 50.0]],
            [[12.0, 25.0], [100.0, 10.0], [105.0, 40.0], [15.0, 55.0]],
            [[0.0, 0.0], [50.0, 5.0], [40.0, 30.0], [5.0, 20.0]],
        ];
        for q in quads {
            let h = square_to_quad(&q).unwrap();
            for (corner, (u, v)) in q
                .iter()
                .zip([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])
            {
                let p = apply(&h, u, v);
                assert!(
                    (p[0] - corner[0]).abs() < 1e-3 && (p[1] - corner[1]).abs() < 1e-3,
                    "{q:?}: ({u},{v}) → {p:?}, want {corner:?}"
                );
            }
        }
    }

    #[test]
    fn degenerate_quads_have_no_homography() {
        assert!(square_to_quad(&[[0.0, 0.0]; 4]).is_none());
        assert!(square_to_quad(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]).is_none());
        assert!(square_to_quad(&[[f32::NAN, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).is_none());
    }

    #[test]
    fn axis_aligned_crop_at_native_size_copies_pixels() {
        // A 16×8 gradient; cropping the 8×4 box at (4, 2) to 8×4 with no margin must hit pixel
        // centres exactly and copy the pixels.
        let data: Vec<u8> = (0..128).map(|i| (i * 2) as u8).collect();
        let luma = LumaView::packed(&data, 16, 8).unwrap();
        let spec = CropSpec {
            width: 8,
            height: 4,
            mean: 0.0,
            std: 1.0 / 255.0,
            margin: 0.0,
        };
        let quad = [[4.0, 2.0], [12.0, 2.0], [12.0, 6.0], [4.0, 6.0]];
        let mut out = vec![0.0; 32];
        warp_one(&luma, &quad, &spec, &mut out);
        for y in 0..4 {
            for x in 0..8 {
                let want = data[(y + 2) * 16 + x + 4] as f32;
                assert!((out[y * 8 + x] - want).abs() < 1e-3, "({x},{y})");
            }
        }
    }

    #[test]
    fn rotated_quad_straightens() {
        // A bright bar along the diagonal of a rotated quad lands on one row of the crop.
        let (w, h) = (64u32, 64u32);
        let mut data = vec![0u8; (w * h) as usize];
        for t in 0..40 {
            let (x, y) = (12 + t, 12 + t);
            for d in -1i32..=1 {
                data[((y as i32 + d) as u32 * w + x) as usize] = 255;
            }
        }
        // Quad centred on the bar (pixel centres on y = x), its sides ±3.2 px across it.
        let quad = [
            [14.75, 10.25],
            [54.75, 50.25],
            [50.25, 54.75],
            [10.25, 14.75],
        ];
        let spec = CropSpec {
            width: 40,
            height: 6,
            mean: 0.0,
            std: 1.0,
            margin: 0.0,
        };
        let luma = LumaView::packed(&data, w, h).unwrap();
        let mut out = vec![0.0; 240];
        warp_one(&luma, &quad, &spec, &mut out);
        let row_mean = |r: usize| out[r * 40 + 5..r * 40 + 35].iter().sum::<f32>() / 30.0;
        // The bar sits in the middle rows; the outer rows are dark.
        let rows: Vec<f32> = (0..6).map(row_mean).collect();
        assert!(rows[2] > 0.4 && rows[3] > 0.4, "{rows:?}");
        assert!(rows[0] < 0.2 && rows[5] < 0.2, "{rows:?}");
    }

    #[test]
    fn far_off_quads_clamp_to_the_edge() {
        let data = vec![7u8; 16];
        let luma = LumaView::packed(&data, 4, 4).unwrap();
        assert_eq!(sample(&luma, -1e9, 1e9), 7.0);
        assert_eq!(sample(&luma, f32::NAN, 2.0), 0.0);
    }
}
