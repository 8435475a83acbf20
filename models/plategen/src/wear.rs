//! Wear on the flat plate before the camera sees it: faded paint, grime, bolts, frames and bent
//! metal. The benchmark's Brazilian plates are mostly like this (the renderer's are clean), so
//! they get it more often and harder.

use custos_synth::plate::RgbImage;
use fastrand::Rng;

fn blend(p: &mut [f32; 3], c: [f32; 3], a: f32) {
    for k in 0..3 {
        p[k] += (c[k] - p[k]) * a;
    }
}

fn disc(img: &mut RgbImage, cx: f32, cy: f32, r: f32, c: [f32; 3], alpha: f32) {
    let (x0, x1) = ((cx - r).floor().max(0.0) as usize, (cx + r).ceil() as usize);
    let (y0, y1) = ((cy - r).floor().max(0.0) as usize, (cy + r).ceil() as usize);
    for y in y0..y1.min(img.height) {
        for x in x0..x1.min(img.width) {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let a = (r - d + 0.5).clamp(0.0, 1.0) * alpha;
            if a > 0.0 {
                blend(&mut img.pixels[y * img.width + x], c, a);
            }
        }
    }
}

/// A smooth random field in 0..1: a coarse grid of random values, bilinearly interpolated.
fn field(rng: &mut Rng, w: usize, h: usize, cells_x: usize, cells_y: usize) -> Vec<f32> {
    let grid: Vec<f32> = (0..(cells_x + 1) * (cells_y + 1))
        .map(|_| rng.f32())
        .collect();
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let gy = y as f32 / h as f32 * cells_y as f32;
        let (iy, fy) = ((gy as usize).min(cells_y - 1), gy.fract());
        for x in 0..w {
            let gx = x as f32 / w as f32 * cells_x as f32;
            let (ix, fx) = ((gx as usize).min(cells_x - 1), gx.fract());
            let at = |i: usize, j: usize| grid[j * (cells_x + 1) + i];
            let top = at(ix, iy) * (1.0 - fx) + at(ix + 1, iy) * fx;
            let bottom = at(ix, iy + 1) * (1.0 - fx) + at(ix + 1, iy + 1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Wears `img` in place; `heavy` for plate designs whose real examples are dirty.
pub fn wear(img: &mut RgbImage, heavy: bool, rng: &mut Rng) {
    let (w, h) = (img.width, img.height);
    let (wf, hf) = (w as f32, h as f32);
    let p =
        |rng: &mut Rng, light: f32, heavy_p: f32| rng.f32() < if heavy { heavy_p } else { light };

    // Faded paint: ink and background drift towards each other.
    if p(rng, 0.25, 0.6) {
        let mean = img
            .pixels
            .iter()
            .fold([0.0; 3], |a, q| [a[0] + q[0], a[1] + q[1], a[2] + q[2]]);
        let mean = mean.map(|v| v / (w * h) as f32);
        let keep = 0.35 + 0.55 * rng.f32();
        for q in &mut img.pixels {
            blend(q, mean, 1.0 - keep);
        }
    }
    // Grime: a low-frequency brownish darkening, and sometimes drips running down.
    if p(rng, 0.3, 0.75) {
        let strength = 0.15 + 0.45 * rng.f32();
        let grime = [90.0, 80.0, 62.0];
        let (cells_x, cells_y) = (2 + rng.usize(..6), 1 + rng.usize(..3));
        let f = field(rng, w, h, cells_x, cells_y);
        for (q, v) in img.pixels.iter_mut().zip(f) {
            blend(q, grime, (v * v * strength).min(0.8));
        }
        for _ in 0..rng.usize(..5) {
            let (x, y0, len) = (
                rng.f32() * wf,
                rng.f32() * hf * 0.5,
                (0.2 + 0.6 * rng.f32()) * hf,
            );
            // Wide and faint: a thin dark streak would read as a 1.
            let (half, a) = ((0.015 + 0.025 * rng.f32()) * wf, 0.08 + 0.15 * rng.f32());
            for y in y0 as usize..((y0 + len) as usize).min(h) {
                for xx in (x - half).max(0.0) as usize..((x + half) as usize).min(w) {
                    blend(&mut img.pixels[y * w + xx], grime, a);
                }
            }
        }
    }
    // Specks of mud and chipped paint.
    if p(rng, 0.2, 0.5) {
        for _ in 0..rng.usize(5..40) {
            let r = (0.005 + 0.02 * rng.f32()) * hf;
            let c = if rng.bool() {
                [60.0, 55.0, 45.0]
            } else {
                [225.0, 225.0, 220.0]
            };
            disc(
                img,
                rng.f32() * wf,
                rng.f32() * hf,
                r.max(0.6),
                c,
                0.4 + 0.5 * rng.f32(),
            );
        }
    }
    // Bolts: a bright head with a dark slot, near the top (where Brazilian plates have them) or
    // the bottom, clear of the characters.
    if p(rng, 0.3, 0.6) {
        let r = (0.03 + 0.03 * rng.f32()) * hf;
        let y = if rng.u8(..4) != 0 {
            0.08 + 0.1 * rng.f32()
        } else {
            0.9
        } * hf;
        for x in [0.04 + 0.08 * rng.f32(), 0.88 + 0.08 * rng.f32()] {
            let c = if rng.bool() { [215.0; 3] } else { [70.0; 3] };
            disc(img, x * wf, y, r, c, 1.0);
            disc(img, x * wf, y, r * 0.4, [30.0; 3], 0.8);
        }
    }
    // A frame over the edges: dark plastic or chrome, sometimes a dealer band at the bottom.
    if p(rng, 0.2, 0.45) {
        let c = if rng.bool() {
            [25.0; 3]
        } else {
            [170.0 + 70.0 * rng.f32(); 3]
        };
        let t = (0.02 + 0.05 * rng.f32()) * hf;
        let bottom = if rng.u8(..3) == 0 { t + 0.08 * hf } else { t };
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                if xf < t || xf > wf - t || yf < t || yf > hf - bottom {
                    img.pixels[y * w + x] = c;
                }
            }
        }
    }
    // Bent metal: rows shift along a smooth curve, or one end folds.
    if p(rng, 0.2, 0.5) {
        let amp = (0.02 + 0.06 * rng.f32()) * hf * if rng.bool() { 1.0 } else { -1.0 };
        let (freq, phase) = (0.5 + 1.5 * rng.f32(), rng.f32() * std::f32::consts::TAU);
        let fold = if rng.bool() {
            Some(0.7 + 0.25 * rng.f32())
        } else {
            None
        };
        let src = img.pixels.clone();
        let background = src[w / 2];
        for x in 0..w {
            let u = x as f32 / wf;
            let dy = match fold {
                Some(at) if u > at => (u - at) * hf * 0.6 * amp.signum(),
                Some(_) => 0.0,
                None => amp * (std::f32::consts::TAU * freq * u + phase).sin(),
            };
            for y in 0..h {
                let sy = y as f32 - dy;
                img.pixels[y * w + x] = if sy < 0.0 || sy > hf - 1.0 {
                    background
                } else {
                    let (y0, f) = (sy as usize, sy.fract());
                    let (a, b) = (src[y0 * w + x], src[(y0 + 1).min(h - 1) * w + x]);
                    [0, 1, 2].map(|k| a[k] * (1.0 - f) + b[k] * f)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wear_is_deterministic_and_keeps_values_in_range() {
        let plate = RgbImage::new(200, 65, [180.0, 182.0, 186.0]);
        let run = |seed| {
            let mut img = plate.clone();
            wear(&mut img, true, &mut Rng::with_seed(seed));
            img.pixels
        };
        assert_eq!(run(5), run(5));
        assert!((0..20).any(|s| run(s) != plate.pixels));
        assert!(run(3).iter().flatten().all(|c| (0.0..=255.0).contains(c)));
    }
}
