/// A flat RGB image, channels 0.0..=255.0 (sRGB values, not linear light).
#[derive(Clone, Debug)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[f32; 3]>,
}

pub(super) type Rgb = [f32; 3];

pub(super) const fn rgb(r: u8, g: u8, b: u8) -> Rgb {
    [r as f32, g as f32, b as f32]
}

pub(super) const WHITE: Rgb = rgb(250, 250, 250);
pub(super) const BLACK: Rgb = rgb(12, 12, 14);
pub(super) const EU_BLUE: Rgb = rgb(0, 51, 153);
pub(super) const EU_YELLOW: Rgb = rgb(255, 204, 0);

pub(super) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

impl RgbImage {
    /// Grey values (BT.601 luma), row-major: what a monochrome or IR camera would see.
    pub fn to_gray(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .map(|p| {
                (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    pub fn new(width: usize, height: usize, fill: [f32; 3]) -> Self {
        Self {
            width,
            height,
            pixels: vec![fill; width * height],
        }
    }

    pub(super) fn blend(&mut self, x: usize, y: usize, c: Rgb, a: f32) {
        let p = &mut self.pixels[y * self.width + x];
        *p = mix(*p, c, a);
    }

    pub(super) fn vertical_gradient(&mut self, top: Rgb, bottom: Rgb) {
        let h = self.height.max(2) as f32 - 1.0;
        for (y, row) in self.pixels.chunks_exact_mut(self.width).enumerate() {
            row.fill(mix(top, bottom, y as f32 / h));
        }
    }

    /// Fills an axis-aligned rectangle with anti-aliased (fractional) edges.
    pub(super) fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Rgb, alpha: f32) {
        let (w, h) = (self.width as f32, self.height as f32);
        let (x0, x1, y0, y1) = (x0.max(0.0), x1.min(w), y0.max(0.0), y1.min(h));
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        for y in y0 as usize..(y1.ceil() as usize).min(self.height) {
            let cy = overlap(y as f32, y0, y1);
            for x in x0 as usize..(x1.ceil() as usize).min(self.width) {
                let a = alpha * cy * overlap(x as f32, x0, x1);
                if a > 0.0 {
                    self.blend(x, y, c, a);
                }
            }
        }
    }

    pub(super) fn fill_circle(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, alpha: f32) {
        self.fill_shape(cx - r, cy - r, cx + r, cy + r, c, alpha, |x, y| {
            r - ((x - cx) * (x - cx) + (y - cy) * (y - cy)).sqrt()
        });
    }

    /// Fills where `inside(x, y)` (a signed distance, positive inside, in px) is positive,
    /// anti-aliased over one pixel.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill_shape(
        &mut self,
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        c: Rgb,
        alpha: f32,
        inside: impl Fn(f32, f32) -> f32,
    ) {
        let xs = x0.max(0.0) as usize..(x1.ceil().max(0.0) as usize).min(self.width);
        for y in y0.max(0.0) as usize..(y1.ceil().max(0.0) as usize).min(self.height) {
            for x in xs.clone() {
                let a = (inside(x as f32 + 0.5, y as f32 + 0.5) + 0.5).clamp(0.0, 1.0) * alpha;
                if a > 0.0 {
                    self.blend(x, y, c, a);
                }
            }
        }
    }

    /// Strokes a rounded rectangle inset `inset` px from the image edge.
    pub(super) fn stroke_round_rect(&mut self, inset: f32, radius: f32, thickness: f32, c: Rgb) {
        let (w, h) = (self.width as f32, self.height as f32);
        let (hw, hh) = (w / 2.0 - inset, h / 2.0 - inset);
        let r = radius.min(hw).min(hh).max(0.0);
        let sdf = |x: f32, y: f32| {
            let qx = (x - w / 2.0).abs() - (hw - r);
            let qy = (y - h / 2.0).abs() - (hh - r);
            let (ox, oy) = (qx.max(0.0), qy.max(0.0));
            let outside = (ox * ox + oy * oy).sqrt() + qx.max(qy).min(0.0) - r;
            // Inside the band between the outline and `thickness` inwards.
            thickness / 2.0 - (outside + thickness / 2.0).abs()
        };
        // Only the strips along the edges can be touched; skip the middle.
        let m = inset + thickness + r + 2.0;
        if 2.0 * m >= w.min(h) {
            self.fill_shape(0.0, 0.0, w, h, c, 1.0, sdf);
            return;
        }
        self.fill_shape(0.0, 0.0, w, m, c, 1.0, sdf);
        self.fill_shape(0.0, h - m, w, h, c, 1.0, sdf);
        self.fill_shape(0.0, m, m, h - m, c, 1.0, sdf);
        self.fill_shape(w - m, m, w, h - m, c, 1.0, sdf);
    }

    /// Fills from a silhouette `top(x)` (image px) down to `bottom`.
    pub(super) fn fill_below(&mut self, bottom: f32, c: Rgb, alpha: f32, top: impl Fn(f32) -> f32) {
        for x in 0..self.width {
            let t = top(x as f32 + 0.5);
            self.fill_rect(x as f32, t, x as f32 + 1.0, bottom, c, alpha);
        }
    }

    /// A diagonal highlight, as the retro-reflective sheeting shows under light.
    pub(super) fn sheen(&mut self, strength: f32, centre: f32) {
        let (w, h) = (self.width as f32, self.height as f32);
        for y in 0..self.height {
            for x in 0..self.width {
                let d = (x as f32 / w - 0.4 * y as f32 / h - centre).abs();
                let k = strength * (1.0 - d / 0.25).max(0.0);
                if k > 0.0 {
                    self.blend(x, y, WHITE, k);
                }
            }
        }
    }
}

/// Length of the overlap of pixel `[p, p + 1)` with `[a, b)`.
pub(super) fn overlap(p: f32, a: f32, b: f32) -> f32 {
    ((p + 1.0).min(b) - p.max(a)).max(0.0)
}
