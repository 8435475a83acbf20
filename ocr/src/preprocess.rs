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

    /// The pixel at (x, y), where coordinates past the border repeat the edge pixels.
    fn at(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        f32::from(self.pixels[y * self.stride + x])
    }
}

/// Resizes `crop` into `out` (`spec.len()` values): area averaging when shrinking, bilinear when
/// enlarging, so small and large crops both keep their strokes. Returns false for a crop whose
/// size and stride do not fit its pixels.
pub fn fill_input(crop: &GrayCrop<'_>, spec: InputSpec, out: &mut [f32]) -> bool {
    fill_input_view(crop, View::WHOLE, spec, out)
}

/// [`fill_input`] of one [`View`] of `crop`: the window the view cuts, with edge pixels repeated
/// where it reaches past the crop.
pub fn fill_input_view(crop: &GrayCrop<'_>, view: View, spec: InputSpec, out: &mut [f32]) -> bool {
    if !crop.is_valid() || out.len() != spec.len() {
        return false;
    }
    let window = view.window(crop.width, crop.height);
    let sx = window.width as f32 / spec.width as f32;
    let sy = window.height as f32 / spec.height as f32;
    for oy in 0..spec.height {
        for ox in 0..spec.width {
            out[oy * spec.width + ox] = sample(crop, &window, ox, oy, sx, sy);
        }
    }
    true
}

/// A cut of a crop: how far each edge moves inwards, as a fraction of the crop's width (left,
/// right) or height (top, bottom). Negative moves the edge outwards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

impl View {
    /// The crop as it is.
    pub const WHOLE: View = View::new(0.0, 0.0, 0.0, 0.0);

    pub const fn new(left: f32, top: f32, right: f32, bottom: f32) -> Self {
        Self {
            left,
            top,
            right,
            bottom,
        }
    }

    /// The window in crop pixels; never empty (a view that would be is the whole crop).
    fn window(&self, width: usize, height: usize) -> Window {
        let edge = |f: f32, n: usize| (f * n as f32).round() as isize;
        let (x0, x1) = (
            edge(self.left, width),
            width as isize - edge(self.right, width),
        );
        let (y0, y1) = (
            edge(self.top, height),
            height as isize - edge(self.bottom, height),
        );
        if x1 <= x0 || y1 <= y0 {
            return View::WHOLE.window(width, height);
        }
        Window {
            x0,
            y0,
            width: (x1 - x0) as usize,
            height: (y1 - y0) as usize,
        }
    }
}

/// A window on a crop in its pixel coordinates; it may reach past the crop's border.
struct Window {
    x0: isize,
    y0: isize,
    width: usize,
    height: usize,
}

fn sample(crop: &GrayCrop<'_>, w: &Window, ox: usize, oy: usize, sx: f32, sy: f32) -> f32 {
    if sx > 1.0 || sy > 1.0 {
        // The window pixels this output pixel covers.
        let x0 = (ox as f32 * sx) as usize;
        let y0 = (oy as f32 * sy) as usize;
        let x1 = (((ox + 1) as f32 * sx).ceil() as usize).clamp(x0 + 1, w.width);
        let y1 = (((oy + 1) as f32 * sy).ceil() as usize).clamp(y0 + 1, w.height);
        let x0 = x0.min(w.width - 1);
        let y0 = y0.min(w.height - 1);
        let mut sum = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += crop.at(w.x0 + x as isize, w.y0 + y as isize);
            }
        }
        return sum / ((y1 - y0) * (x1 - x0)) as f32;
    }
    let fx = ((ox as f32 + 0.5) * sx - 0.5).max(0.0);
    let fy = ((oy as f32 + 0.5) * sy - 0.5).max(0.0);
    let (x0, y0) = (fx as usize, fy as usize);
    let (x1, y1) = ((x0 + 1).min(w.width - 1), (y0 + 1).min(w.height - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let at = |x: usize, y: usize| crop.at(w.x0 + x as isize, w.y0 + y as isize);
    let top = at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx;
    let bottom = at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx;
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

    #[test]
    fn views_cut_inside_and_repeat_edges_outside() {
        // 8 × 2, columns 0..8 valued 10·x.
        let pixels: Vec<u8> = (0..16).map(|i| (i % 8) as u8 * 10).collect();
        let crop = GrayCrop::packed(8, 2, &pixels).unwrap();
        let spec = InputSpec {
            width: 8,
            height: 2,
        };
        let mut out = vec![0.0; spec.len()];
        // A quarter off each side: the middle four columns, stretched.
        assert!(fill_input_view(
            &crop,
            View::new(0.25, 0.0, 0.25, 0.0),
            spec,
            &mut out
        ));
        assert!(
            out[..8].iter().all(|v| (20.0..=50.0).contains(v)),
            "{out:?}"
        );
        // A quarter added each side: the edge columns repeated (0 left, 70 right).
        assert!(fill_input_view(
            &crop,
            View::new(-0.25, 0.0, -0.25, 0.0),
            spec,
            &mut out
        ));
        assert_eq!(out[0], 0.0);
        assert_eq!(out[7], 70.0);
        assert!(out[1] <= 5.0 && out[6] >= 65.0, "{out:?}");
        // A view that would be empty reads the whole crop.
        let mut whole = vec![0.0; spec.len()];
        assert!(fill_input(&crop, spec, &mut whole));
        assert!(fill_input_view(
            &crop,
            View::new(0.6, 0.0, 0.6, 0.0),
            spec,
            &mut out
        ));
        assert_eq!(out, whole);
    }
}
