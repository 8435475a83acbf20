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
