//! Plane geometry every stage shares: the homographies between the unit square and a plate's
//! quad (Heckbert's closed form), and bilinear sampling. One copy, so the crops the kernels cut,
//! the plates the synthetic scene draws and the training data all use the same arithmetic.

use crate::Quad;

/// The map from the unit square to quad `q`: `(u, v)` ↦ `((a u + b v + c) / w,
/// (d u + e v + f) / w)` with `w = g u + h v + 1`, as `[a, b, c, d, e, f, g, h]`; corners (0,0),
/// (1,0), (1,1), (0,1) go to the quad's TL, TR, BR, BL. `None` for a degenerate quad (collinear
/// corners, NaN), which has no sensible map.
pub fn square_to_quad(q: &Quad) -> Option<[f64; 8]> {
    let [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = q.map(|p| p.map(f64::from));
    let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
    let h = if sx.abs() < 1e-9 && sy.abs() < 1e-9 {
        // A parallelogram: the map is affine.
        [x1 - x0, x2 - x1, x0, y1 - y0, y2 - y1, y0, 0.0, 0.0]
    } else {
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let det = dx1 * dy2 - dx2 * dy1;
        if det.abs() < 1e-9 {
            return None;
        }
        let g = (sx * dy2 - dx2 * sy) / det;
        let h = (dx1 * sy - sx * dy1) / det;
        [
            x1 - x0 + g * x1,
            x3 - x0 + h * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + h * y3,
            y0,
            g,
            h,
        ]
    };
    let area2 = (x2 - x0) * (y3 - y1) - (x3 - x1) * (y2 - y0);
    (h.iter().all(|v| v.is_finite()) && area2.abs() > 1e-6).then_some(h)
}

/// The inverse map, from frame points to the unit square over quad `q`, as a row-major 3×3
/// matrix for [`project`]; `None` for a degenerate quad.
pub fn quad_to_square(q: &Quad) -> Option<[f32; 9]> {
    let [a, b, c, d, e, f, g, h] = square_to_quad(q)?;
    // Adjugate of [[a b c] [d e f] [g h 1]]; the scale cancels in the division.
    let m = [
        e - f * h,
        c * h - b,
        b * f - c * e,
        f * g - d,
        a - c * g,
        c * d - a * f,
        d * h - e * g,
        b * g - a * h,
        a * e - b * d,
    ];
    let det = a * (e - f * h) - b * (d - f * g) + c * (d * h - e * g);
    if det.abs() < 1e-12 {
        return None;
    }
    Some(m.map(|v| (v / det) as f32))
}

/// Applies a 3×3 projective matrix to (`x`, `y`); `None` at the line at infinity.
pub fn project(m: &[f32; 9], x: f32, y: f32) -> Option<[f32; 2]> {
    let d = m[6] * x + m[7] * y + m[8];
    if d.abs() < 1e-12 {
        return None;
    }
    let r = 1.0 / d;
    Some([
        (m[0] * x + m[1] * y + m[2]) * r,
        (m[3] * x + m[4] * y + m[5]) * r,
    ])
}

/// Bilinear sample at (`x`, `y`) of a `width × height` plane read through `at` (which is only
/// called with in-range indices), where pixel (i, j)'s centre is at (i, j) and edges repeat.
/// A non-finite coordinate or an empty plane gives 0 (black).
#[inline]
pub fn bilinear(
    width: usize,
    height: usize,
    x: f32,
    y: f32,
    at: impl Fn(usize, usize) -> f32,
) -> f32 {
    if width == 0 || height == 0 || !(x.is_finite() && y.is_finite()) {
        return 0.0;
    }
    let x = x.clamp(0.0, (width - 1) as f32);
    let y = y.clamp(0.0, (height - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
    let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
    top + (bottom - top) * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUAD: Quad = [[1.0, 2.0], [30.0, 1.0], [28.0, 12.0], [2.0, 14.0]];

    fn forward(h: &[f64; 8], u: f64, v: f64) -> [f64; 2] {
        let w = h[6] * u + h[7] * v + 1.0;
        [
            (h[0] * u + h[1] * v + h[2]) / w,
            (h[3] * u + h[4] * v + h[5]) / w,
        ]
    }

    #[test]
    fn the_maps_take_corners_to_corners_and_invert_each_other() {
        let h = square_to_quad(&QUAD).unwrap();
        let inv = quad_to_square(&QUAD).unwrap();
        for (unit, corner) in [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
            .iter()
            .zip(QUAD)
        {
            let p = forward(&h, unit[0], unit[1]);
            assert!(
                (p[0] - f64::from(corner[0])).abs() < 1e-4,
                "{p:?} {corner:?}"
            );
            assert!(
                (p[1] - f64::from(corner[1])).abs() < 1e-4,
                "{p:?} {corner:?}"
            );
            let back = project(&inv, corner[0], corner[1]).unwrap();
            assert!((back[0] - unit[0] as f32).abs() < 1e-4, "{back:?} {unit:?}");
            assert!((back[1] - unit[1] as f32).abs() < 1e-4, "{back:?} {unit:?}");
        }
    }

    #[test]
    fn degenerate_quads_have_no_map() {
        let line = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
        assert!(square_to_quad(&line).is_none());
        assert!(quad_to_square(&line).is_none());
        assert!(square_to_quad(&[[f32::NAN, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).is_none());
    }

    #[test]
    fn bilinear_interpolates_and_repeats_edges() {
        let plane = [0.0f32, 10.0, 20.0, 30.0]; // 2 × 2
        let at = |x: usize, y: usize| plane[y * 2 + x];
        assert_eq!(bilinear(2, 2, 0.5, 0.0, at), 5.0);
        assert_eq!(bilinear(2, 2, 0.5, 0.5, at), 15.0);
        assert_eq!(bilinear(2, 2, -3.0, 9.0, at), 20.0);
        assert_eq!(bilinear(2, 2, f32::NAN, 0.0, at), 0.0);
        assert_eq!(bilinear(0, 0, 0.0, 0.0, at), 0.0);
    }
}
