//! Turns a flat rendered plate into a crop as a roadside camera sees it: placed on a vehicle,
//! in perspective, loosely or tightly cropped, at low resolution, blurred, noisy, unevenly lit and
//! JPEG-compressed — then resized to the model's input as grayscale.

use custos_core::geometry;
use custos_synth::plate::RgbImage;
use fastrand::Rng;

/// A grayscale crop, row-major, `width × height`.
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

impl Gray {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![0.0; width * height],
        }
    }

    fn at(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        self.pixels[y * self.width + x]
    }

    fn bilinear(&self, x: f32, y: f32) -> f32 {
        geometry::bilinear(self.width, self.height, x, y, |x, y| {
            self.pixels[y * self.width + x]
        })
    }

    /// Area-averaging resize (bilinear when enlarging), so shrinking does not alias.
    pub fn resize(&self, width: usize, height: usize) -> Gray {
        let mut out = Gray::new(width, height);
        let (sx, sy) = (
            self.width as f32 / width as f32,
            self.height as f32 / height as f32,
        );
        for y in 0..height {
            for x in 0..width {
                let v = if sx <= 1.0 && sy <= 1.0 {
                    self.bilinear((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5)
                } else {
                    let (x0, x1) = (
                        (x as f32 * sx) as usize,
                        (((x + 1) as f32 * sx).ceil() as usize).min(self.width),
                    );
                    let (y0, y1) = (
                        (y as f32 * sy) as usize,
                        (((y + 1) as f32 * sy).ceil() as usize).min(self.height),
                    );
                    let mut sum = 0.0;
                    for yy in y0..y1.max(y0 + 1) {
                        for xx in x0..x1.max(x0 + 1) {
                            sum += self.at(xx as isize, yy as isize);
                        }
                    }
                    sum / ((y1.max(y0 + 1) - y0) * (x1.max(x0 + 1) - x0)) as f32
                };
                out.pixels[y * width + x] = v;
            }
        }
        out
    }

    pub fn to_u8(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
            .collect()
    }
}

fn luma(p: [f32; 3], gains: [f32; 3]) -> f32 {
    0.299 * p[0] * gains[0] + 0.587 * p[1] * gains[1] + 0.114 * p[2] * gains[2]
}

fn box_blur(img: &mut Gray, radius_x: usize, radius_y: usize) {
    if radius_x == 0 && radius_y == 0 {
        return;
    }
    let src = Gray {
        width: img.width,
        height: img.height,
        pixels: img.pixels.clone(),
    };
    for y in 0..img.height {
        for x in 0..img.width {
            let mut sum = 0.0;
            let mut n = 0.0;
            for dy in -(radius_y as isize)..=radius_y as isize {
                for dx in -(radius_x as isize)..=radius_x as isize {
                    sum += src.at(x as isize + dx, y as isize + dy);
                    n += 1.0;
                }
            }
            img.pixels[y * img.width + x] = sum / n;
        }
    }
}

fn jpeg(img: &Gray, quality: u8) -> Option<Gray> {
    let bytes = img.to_u8();
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    enc.encode(
        &bytes,
        img.width as u32,
        img.height as u32,
        image::ExtendedColorType::L8,
    )
    .ok()?;
    let decoded = image::load_from_memory_with_format(&out, image::ImageFormat::Jpeg)
        .ok()?
        .to_luma8();
    Some(Gray {
        width: img.width,
        height: img.height,
        pixels: decoded.into_raw().into_iter().map(f32::from).collect(),
    })
}

/// Interlaced video, on one crop in eight: the second field (odd lines) is exposed a moment
/// after the first, so on a moving vehicle it lands shifted sideways (combing, up to 5 % of the
/// width); on one in sixteen a deinterlacer has doubled the first field's lines instead.
fn interlace(img: &mut Gray, rng: &mut Rng) {
    let w = img.width;
    match rng.u8(..16) {
        0 | 1 => {
            let shift =
                (0.005 + rng.f32() * 0.045) * w as f32 * if rng.bool() { 1.0 } else { -1.0 };
            let (whole, frac) = (shift.floor(), shift - shift.floor());
            for y in (1..img.height).step_by(2) {
                let row: Vec<f32> = img.pixels[y * w..(y + 1) * w].to_vec();
                let at = |x: f32| row[(x.max(0.0) as usize).min(w - 1)];
                for x in 0..w {
                    let src = x as f32 - whole;
                    img.pixels[y * w + x] = at(src) * (1.0 - frac) + at(src - 1.0) * frac;
                }
            }
        }
        2 => {
            for y in (1..img.height).step_by(2) {
                img.pixels.copy_within((y - 1) * w..y * w, y * w);
            }
        }
        _ => {}
    }
}

/// The plate as a camera would deliver it, as a `width × height` grayscale crop. `plate` is the
/// flat rendering; its size sets the detail available.
pub fn degrade(plate: &RgbImage, width: usize, height: usize, rng: &mut Rng) -> Gray {
    let (pw, ph) = (plate.width as f32, plate.height as f32);
    // Crop margins around the plate in output pixels: tight crops cut a little off, loose ones
    // show the vehicle around it, as a detector's boxes do.
    let margin_x = rng.f32() * 0.22 - 0.05;
    let margin_y = rng.f32() * 0.30 - 0.05;
    let inner_w = width as f32 / (1.0 + 2.0 * margin_x);
    let inner_h = height as f32 / (1.0 + 2.0 * margin_y);
    let (cx, cy) = (
        width as f32 / 2.0 + (rng.f32() - 0.5) * 0.06 * width as f32,
        height as f32 / 2.0 + (rng.f32() - 0.5) * 0.1 * height as f32,
    );
    // Perspective: each corner moves independently; rotation tilts the whole plate.
    let mut corners = [[-0.5f32, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]];
    let jitter = 0.06 * rng.f32();
    if rng.u8(..4) == 0 {
        // Strongly tilted and boxed as a labeller boxes it (the benchmark's boxes are axis-aligned):
        // the whole rotated plate inside the box, the box stretched to the crop.
        let (sin, cos) = ((rng.f32() - 0.5) * 0.6).sin_cos();
        let rotated = corners.map(|c| {
            let (x, y) = (
                (c[0] + (rng.f32() - 0.5) * jitter) * pw,
                (c[1] + (rng.f32() - 0.5) * jitter * 2.0) * ph,
            );
            [x * cos - y * sin, x * sin + y * cos]
        });
        let extent = |k: usize| {
            let (lo, hi) = rotated.iter().fold((f32::MAX, f32::MIN), |(lo, hi), c| {
                (lo.min(c[k]), hi.max(c[k]))
            });
            (hi - lo).max(1e-3)
        };
        let (bw, bh) = (extent(0), extent(1));
        for (c, r) in corners.iter_mut().zip(rotated) {
            *c = [cx + r[0] / bw * inner_w, cy + r[1] / bh * inner_h];
        }
    } else {
        let angle = (rng.f32() - 0.5) * 0.2;
        let (sin, cos) = angle.sin_cos();
        for c in &mut corners {
            c[0] += (rng.f32() - 0.5) * jitter * 2.0;
            c[1] += (rng.f32() - 0.5) * jitter * 4.0;
            let (x, y) = (c[0] * inner_w, c[1] * inner_h);
            *c = [
                cx + x * cos - y * sin * (inner_h / inner_w).min(1.0),
                cy + x * sin * 0.3 + y * cos,
            ];
        }
    }

    // Work at the camera's resolution: the plate spans 45–300 pixels.
    let plate_px = 45.0 + rng.f32().powf(1.5) * 255.0;
    let scale = (plate_px / inner_w).clamp(0.25, 3.0);
    let (lw, lh) = (
        ((width as f32 * scale).round() as usize).max(8),
        ((height as f32 * scale).round() as usize).max(4),
    );
    let scaled: [[f32; 2]; 4] = corners.map(|c| [c[0] * scale, c[1] * scale]);
    let Some(to_unit) = geometry::quad_to_square(&scaled) else {
        return Gray::new(width, height);
    };

    // Colour balance (incl. IR-like grey), then the vehicle behind the plate.
    let gains = if rng.u8(..10) == 0 {
        [1.0, 1.0, 1.0]
    } else {
        [
            0.8 + rng.f32() * 0.4,
            0.8 + rng.f32() * 0.4,
            0.8 + rng.f32() * 0.4,
        ]
    };
    let body = rng.f32() * 230.0;
    let body_grad = (rng.f32() - 0.5) * 80.0;
    let plate_gray = Gray {
        width: plate.width,
        height: plate.height,
        pixels: plate.pixels.iter().map(|p| luma(*p, gains)).collect(),
    };
    let mut img = Gray::new(lw, lh);
    for y in 0..lh {
        for x in 0..lw {
            let [u, v] = geometry::project(&to_unit, x as f32 + 0.5, y as f32 + 0.5)
                .map_or([f32::NAN; 2], |[s, t]| [s * pw, t * ph]);
            img.pixels[y * lw + x] = if (0.0..pw).contains(&u) && (0.0..ph).contains(&v) {
                plate_gray.bilinear(u - 0.5, v - 0.5)
            } else {
                // A dark plate frame or bumper edge right around the plate, body beyond.
                let near = u > -pw * 0.03 && u < pw * 1.03 && v > -ph * 0.06 && v < ph * 1.06;
                if near && rng.u8(..4) != 0 {
                    30.0
                } else {
                    body + body_grad * (y as f32 / lh as f32)
                }
            };
        }
    }

    // Uneven light: a shadow edge or a glare spot, then overall exposure.
    match rng.u8(..6) {
        0 => {
            let (a, b, c) = (
                rng.f32() - 0.5,
                rng.f32() - 0.5,
                (rng.f32() - 0.5) * lw as f32,
            );
            let dark = 0.35 + rng.f32() * 0.4;
            for y in 0..lh {
                for x in 0..lw {
                    if a * (x as f32 - lw as f32 / 2.0) + b * (y as f32 - lh as f32 / 2.0) * 3.0
                        > c * 0.3
                    {
                        img.pixels[y * lw + x] *= dark;
                    }
                }
            }
        }
        1 => {
            let (gx, gy, r) = (
                rng.f32() * lw as f32,
                rng.f32() * lh as f32,
                (0.1 + rng.f32() * 0.4) * lw as f32,
            );
            let strength = 60.0 + rng.f32() * 140.0;
            for y in 0..lh {
                for x in 0..lw {
                    let d2 = ((x as f32 - gx).powi(2) + ((y as f32 - gy) * 2.0).powi(2)) / (r * r);
                    img.pixels[y * lw + x] += strength * (-d2).exp();
                }
            }
        }
        _ => {}
    }
    let contrast = 0.45 + rng.f32() * 0.75;
    let brightness = (rng.f32() - 0.5) * 90.0;
    let gamma = 0.6 + rng.f32() * 0.9;
    let invert = rng.u8(..40) == 0;
    for p in &mut img.pixels {
        let mut v = (*p / 255.0).clamp(0.0, 1.0).powf(gamma) * 255.0;
        v = (v - 128.0) * contrast + 128.0 + brightness;
        if invert {
            v = 255.0 - v;
        }
        *p = v;
    }

    interlace(&mut img, rng);

    // Focus and motion blur, sensor noise, compression.
    match rng.u8(..5) {
        0 => box_blur(&mut img, 1, 1),
        1 => box_blur(&mut img, 1 + rng.usize(..2), 0),
        2 if lw > 120 => box_blur(&mut img, 2, 1),
        _ => {}
    }
    let sigma = rng.f32().powi(2) * 14.0;
    for p in &mut img.pixels {
        let n: f32 = (0..4).map(|_| rng.f32() - 0.5).sum::<f32>() * 1.7;
        *p = (*p + n * sigma).clamp(0.0, 255.0);
    }
    if rng.u8(..3) != 0
        && let Some(j) = jpeg(&img, 15 + rng.u8(..75))
    {
        img = j;
    }
    img.resize(width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interlacing_shifts_or_doubles_the_odd_lines_only() {
        // Vertical stripes, so a sideways shift shows, a little brighter each line down, so a
        // doubled line shows.
        let (w, h) = (40, 10);
        let mut original = Gray::new(w, h);
        for (i, p) in original.pixels.iter_mut().enumerate() {
            *p = if (i % w) / 4 % 2 == 0 { 0.0 } else { 200.0 } + (i / w) as f32;
        }
        let (mut combed, mut doubled) = (0, 0);
        for seed in 0..400 {
            let mut img = Gray {
                pixels: original.pixels.clone(),
                ..original
            };
            interlace(&mut img, &mut Rng::with_seed(seed));
            let line = |g: &Gray, y: usize| g.pixels[y * w..(y + 1) * w].to_vec();
            assert!(
                (0..h)
                    .step_by(2)
                    .all(|y| line(&img, y) == line(&original, y)),
                "the first field (even lines) stays as it was"
            );
            if (1..h)
                .step_by(2)
                .all(|y| line(&img, y) == line(&img, y - 1))
            {
                doubled += 1;
            } else if (1..h)
                .step_by(2)
                .all(|y| line(&img, y) != line(&original, y))
            {
                combed += 1;
            } else {
                assert_eq!(img.pixels, original.pixels, "seed {seed}: partly changed");
            }
        }
        // One in eight combed, one in sixteen doubled.
        assert!((30..=75).contains(&combed), "{combed} of 400 combed");
        assert!((12..=45).contains(&doubled), "{doubled} of 400 doubled");
    }

    #[test]
    fn degraded_crops_have_the_requested_size_and_vary() {
        let plate = RgbImage::new(200, 100, [240.0, 240.0, 240.0]);
        let mut rng = Rng::with_seed(1);
        let a = degrade(&plate, 160, 48, &mut rng);
        let b = degrade(&plate, 160, 48, &mut rng);
        assert_eq!((a.width, a.height, a.pixels.len()), (160, 48, 160 * 48));
        assert_ne!(a.to_u8(), b.to_u8());
    }
}
