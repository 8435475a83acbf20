//! Crops into the model's input tensor on the CPU (the kernels can write the tensor directly on a
//! GPU instead).

/// The model's input: one grey channel, `height × width`, values 0–255 as f32 (the model
/// normalises itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSpec {
    pub width: usize,
    pub height: usize,
}

impl InputSpec {
    pub fn len(&self) -> usize {
        self.width * self.height
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A greyscale plate crop borrowed from somewhere (a decoded frame, an image file).
#[derive(Clone, Copy, Debug)]
pub struct GrayCrop<'a> {
    pub width: usize,
    pub height: usize,
    /// Bytes from one row's start to the next.
    pub stride: usize,
    pub pixels: &'a [u8],
}

impl<'a> GrayCrop<'a> {
    /// A tightly packed crop; `None` if `pixels` is not `width × height` bytes or either is 0.
    pub fn packed(width: usize, height: usize, pixels: &'a [u8]) -> Option<Self> {
        (width > 0 && height > 0 && width.checked_mul(height) == Some(pixels.len())).then_some(
            Self {
                width,
                height,
                stride: width,
                pixels,
            },
        )
    }

    fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.stride >= self.width
            && (self.height - 1)
                .checked_mul(self.stride)
                .and_then(|v| v.checked_add(self.width))
                .is_some_and(|end| end <= self.pixels.len())
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        f32::from(self.pixels[y * self.stride + x])
    }
}

/// Resizes `crop` into `out` (`spec.len()` values): area averaging when shrinking, bilinear when
/// enlarging, so small and large crops both keep their strokes. Returns false for a crop whose
/// size and stride do not fit its pixels.
pub fn fill_input(crop: &GrayCrop<'_>, spec: InputSpec, out: &mut [f32]) -> bool {
    if !crop.is_valid() || out.len() != spec.len() {
        return false;
    }
    let sx = crop.width as f32 / spec.width as f32;
    let sy = crop.height as f32 / spec.height as f32;
    for oy in 0..spec.height {
        for ox in 0..spec.width {
            out[oy * spec.width + ox] = sample(crop, ox, oy, sx, sy);
        }
    }
    true
}

fn sample(crop: &GrayCrop<'_>, ox: usize, oy: usize, sx: f32, sy: f32) -> f32 {
    if sx > 1.0 || sy > 1.0 {
        // The source pixels this output pixel covers.
        let x0 = (ox as f32 * sx) as usize;
        let y0 = (oy as f32 * sy) as usize;
        let x1 = (((ox + 1) as f32 * sx).ceil() as usize).clamp(x0 + 1, crop.width);
        let y1 = (((oy + 1) as f32 * sy).ceil() as usize).clamp(y0 + 1, crop.height);
        let x0 = x0.min(crop.width - 1);
        let y0 = y0.min(crop.height - 1);
        let mut sum = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += crop.at(x, y);
            }
        }
        return sum / ((y1 - y0) * (x1 - x0)) as f32;
    }
    let fx = ((ox as f32 + 0.5) * sx - 0.5).max(0.0);
    let fy = ((oy as f32 + 0.5) * sy - 0.5).max(0.0);
    let (x0, y0) = (fx as usize, fy as usize);
    let (x1, y1) = ((x0 + 1).min(crop.width - 1), (y0 + 1).min(crop.height - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let top = crop.at(x0, y0) * (1.0 - tx) + crop.at(x1, y0) * tx;
    let bottom = crop.at(x0, y1) * (1.0 - tx) + crop.at(x1, y1) * tx;
    top * (1.0 - ty) + bottom * ty
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: InputSpec = InputSpec {
        width: 4,
        height: 2,
    };

    #[test]
    fn shrinks_by_averaging() {
        // 8 × 4, left half 0, right half 200.
        let pixels: Vec<u8> = (0..32).map(|i| if i % 8 < 4 { 0 } else { 200 }).collect();
        let crop = GrayCrop::packed(8, 4, &pixels).unwrap();
        let mut out = vec![0.0; SPEC.len()];
        assert!(fill_input(&crop, SPEC, &mut out));
        assert_eq!(out, vec![0.0, 0.0, 200.0, 200.0, 0.0, 0.0, 200.0, 200.0]);
    }

    #[test]
    fn enlarges_smoothly_and_respects_stride() {
        // 2 × 1 visible pixels inside rows of 3 bytes (stride); the padding byte must be ignored.
        let pixels = [10u8, 110, 255];
        let crop = GrayCrop {
            width: 2,
            height: 1,
            stride: 3,
            pixels: &pixels,
        };
        let mut out = vec![0.0; SPEC.len()];
        assert!(fill_input(&crop, SPEC, &mut out));
        assert!(out.iter().all(|v| (10.0..=110.0).contains(v)), "{out:?}");
        assert!(out[0] < out[3]);
    }

    #[test]
    fn refuses_crops_that_do_not_fit_their_pixels() {
        let pixels = [0u8; 10];
        let mut out = vec![0.0; SPEC.len()];
        assert!(GrayCrop::packed(4, 3, &pixels).is_none());
        let bad = GrayCrop {
            width: 4,
            height: 3,
            stride: 4,
            pixels: &pixels,
        };
        assert!(!fill_input(&bad, SPEC, &mut out));
        let zero = GrayCrop {
            width: 0,
            height: 3,
            stride: 4,
            pixels: &pixels,
        };
        assert!(!fill_input(&zero, SPEC, &mut out));
    }
}
