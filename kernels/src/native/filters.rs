//! The pyramid kernels in plain Rust, row-parallel with rayon. Each mirrors one WGSL entry point
//! operation for operation, so both backends agree to float rounding.

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
    let last = luma.height() - 1;
    fill_rows(w, h, |y, row| {
        let y = 2 * y as u32;
        half_row(luma.row(y), luma.row((y + 1).min(last)), row, f32::from);
    })
}

/// The next pyramid level: the mean of each 2×2 block.
pub fn downscale(src: &Map) -> Map {
    let (w, h) = half_size(src.width, src.height);
    let (sw, last) = (src.width as usize, src.height as usize - 1);
    let row = |y: usize| &src.data[y * sw..(y + 1) * sw];
    fill_rows(w, h, |y, out| {
        half_row(row(2 * y), row((2 * y + 1).min(last)), out, |v| v);
    })
}

/// One output row of a 2×2 mean from input rows `r0` and `r1`. The output is half the input
/// width (rounded down, at least 1), so only a one-pixel-wide input repeats its edge pixel —
/// the clamped border rule of the WGSL kernel, without a clamp per pixel.
fn half_row<T: Copy>(r0: &[T], r1: &[T], out: &mut [f32], f: impl Fn(T) -> f32) {
    if r0.len() < 2 {
        let (a, b) = (f(r0[0]), f(r1[0]));
        out[0] = ((a + a) + (b + b)) * 0.25;
        return;
    }
    for ((o, p), q) in out
        .iter_mut()
        .zip(r0.chunks_exact(2))
        .zip(r1.chunks_exact(2))
    {
        *o = ((f(p[0]) + f(p[1])) + (f(q[0]) + f(q[1]))) * 0.25;
    }
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
}
