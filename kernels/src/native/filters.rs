//! The per-pixel kernels in plain Rust, row-parallel with rayon. Each mirrors one WGSL entry
//! point operation for operation, so both backends agree to float rounding.

use rayon::prelude::*;

use crate::{LumaView, Map, map::half_size};

fn fill_rows(width: u32, height: u32, f: impl Fn(usize, &mut [f32]) + Sync) -> Map {
    let mut out = Map::zeros(width, height);
    out.data
        .par_chunks_mut(width as usize)
        .enumerate()
        .for_each(|(y, row)| f(y, row));
    out
}

/// Level 1 of the pyramid straight from the luma bytes: the mean of each 2×2 block.
pub fn downscale_luma(luma: &LumaView<'_>) -> Map {
    let (w, h) = half_size(luma.width(), luma.height());
    fill_rows(w, h, |y, row| {
        let y = 2 * y as i64;
        for (x, o) in row.iter_mut().enumerate() {
            let x = 2 * x as i64;
            let p = |dx, dy| luma.at_clamped(x + dx, y + dy) as f32;
            *o = ((p(0, 0) + p(1, 0)) + (p(0, 1) + p(1, 1))) * 0.25;
        }
    })
}

/// The next pyramid level: the mean of each 2×2 block.
pub fn downscale(src: &Map) -> Map {
    let (w, h) = half_size(src.width, src.height);
    fill_rows(w, h, |y, row| {
        let y = 2 * y as i64;
        for (x, o) in row.iter_mut().enumerate() {
            let x = 2 * x as i64;
            let p = |dx, dy| src.at_clamped(x + dx, y + dy);
            *o = ((p(0, 0) + p(1, 0)) + (p(0, 1) + p(1, 1))) * 0.25;
        }
    })
}

/// Horizontal Sobel magnitude (normalised to grey levels per pixel), clipped at `clip`: plate
/// characters are rows of vertical strokes. (Subtracting the vertical gradient to suppress
/// isotropic clutter was tried and lost most plates: their borders and character tops count.)
pub fn gradient(src: &Map, clip: f32) -> Map {
    fill_rows(src.width, src.height, |y, row| {
        let y = y as i64;
        for (x, o) in row.iter_mut().enumerate() {
            let x = x as i64;
            let col = |dx| {
                src.at_clamped(x + dx, y - 1)
                    + 2.0 * src.at_clamped(x + dx, y)
                    + src.at_clamped(x + dx, y + 1)
            };
            *o = ((col(1) - col(-1)) * 0.125).abs().min(clip);
        }
    })
}

/// Mean over `2r + 1` pixels along a row, edges repeated.
pub fn box_h(src: &Map, r: u32) -> Map {
    let r = r as i64;
    let n = (2 * r + 1) as f32;
    fill_rows(src.width, src.height, |y, row| {
        for (x, o) in row.iter_mut().enumerate() {
            let mut s = 0.0;
            for d in -r..=r {
                s += src.at_clamped(x as i64 + d, y as i64);
            }
            *o = s / n;
        }
    })
}

/// Mean over `2r + 1` pixels down a column, edges repeated.
pub fn box_v(src: &Map, r: u32) -> Map {
    let r = r as i64;
    let n = (2 * r + 1) as f32;
    fill_rows(src.width, src.height, |y, row| {
        for (x, o) in row.iter_mut().enumerate() {
            let mut s = 0.0;
            for d in -r..=r {
                s += src.at_clamped(x as i64, y as i64 + d);
            }
            *o = s / n;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_averages_and_handles_odd_sizes() {
        let data: Vec<u8> = vec![0, 4, 8, 12, 16, 20, 24, 28, 32];
        let l1 = downscale_luma(&LumaView::packed(&data, 3, 3).unwrap());
        assert_eq!((l1.width, l1.height), (1, 1));
        assert_eq!(l1.data, vec![(0.0 + 4.0 + 12.0 + 16.0) / 4.0]);
        let one = downscale(&l1);
        assert_eq!((one.width, one.height, one.data[0]), (1, 1, 8.0));
    }

    #[test]
    fn gradient_sees_vertical_edges_only() {
        // Left half 0, right half 100: a vertical edge between columns 3 and 4.
        let mut m = Map::zeros(8, 4);
        for y in 0..4 {
            for x in 4..8 {
                m.data[y * 8 + x] = 100.0;
            }
        }
        let g = gradient(&m, 1000.0);
        assert_eq!(g.data[8 + 3], 50.0);
        assert_eq!(g.data[8 + 4], 50.0);
        assert_eq!(g.data[8], 0.0);
        assert_eq!(gradient(&m, 20.0).data[8 + 3], 20.0, "clipped");
        // Transposed: a horizontal edge gives no response.
        let mut t = Map::zeros(4, 8);
        for y in 4..8 {
            for x in 0..4 {
                t.data[y * 4 + x] = 100.0;
            }
        }
        assert!(gradient(&t, 1000.0).data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn box_filters_average_with_repeated_edges() {
        let m = Map {
            width: 3,
            height: 1,
            data: vec![3.0, 6.0, 9.0],
        };
        assert_eq!(box_h(&m, 1).data, vec![4.0, 6.0, 8.0]);
        assert_eq!(box_v(&m, 2).data, m.data);
    }
}
