//! Float images: single-channel maps (pyramid levels) and multi-channel tensors (the
//! detector's layers).

/// `height` rows of `width` floats, packed.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Map {
    pub fn zeros(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width as usize * height as usize],
        }
    }

    /// The value at (`x`, `y`) with coordinates clamped to the map (edge pixels repeat), the
    /// border rule every kernel uses on both backends.
    pub fn at_clamped(&self, x: i64, y: i64) -> f32 {
        let x = x.clamp(0, self.width as i64 - 1) as usize;
        let y = y.clamp(0, self.height as i64 - 1) as usize;
        self.data[y * self.width as usize + x]
    }

    /// The largest absolute difference to `other`, or `None` when the sizes differ.
    pub fn max_abs_diff(&self, other: &Map) -> Option<f32> {
        if self.width != other.width || self.height != other.height {
            return None;
        }
        Some(
            self.data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max),
        )
    }
}

/// `channels` planes of `height` rows of `width` floats, packed (CHW).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub channels: u32,
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn zeros(channels: u32, width: u32, height: u32) -> Self {
        Self {
            channels,
            width,
            height,
            data: vec![0.0; channels as usize * width as usize * height as usize],
        }
    }

    pub fn plane_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Channel `c` as `height` rows of `width`.
    pub fn channel(&self, c: u32) -> &[f32] {
        let n = self.plane_len();
        &self.data[c as usize * n..(c as usize + 1) * n]
    }

    /// The largest difference to `other` relative to the larger magnitude (and at least 1), or
    /// `None` when the shapes differ.
    pub fn max_rel_diff(&self, other: &Tensor) -> Option<f32> {
        if (self.channels, self.width, self.height) != (other.channels, other.width, other.height) {
            return None;
        }
        Some(
            self.data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| (a - b).abs() / a.abs().max(b.abs()).max(1.0))
                .fold(0.0, f32::max),
        )
    }
}

/// Size of the next pyramid level: half, rounded down, never below one pixel.
pub fn half_size(width: u32, height: u32) -> (u32, u32) {
    ((width / 2).max(1), (height / 2).max(1))
}
