//! The synthetic road scene of the test cameras: vehicles carrying plates of known text drive
//! towards the camera, from the top of the frame to the bottom, growing as they come; every
//! frame is rendered straight into I420, and each plate's boxes are kept as ground truth.
//!
//! Colours are BT.601, limited (video) range: Y 16–235, U/V 16–240. Tell the encoder's caps
//! `colorimetry=bt601` (GStreamer assumes BT.709 above 576 lines otherwise).
//!
//! Cost per frame is a memcpy of the prebuilt background, a few filled trapezoids per vehicle
//! and one small perspective warp per visible plate; the plate image itself (the only thing
//! with glyphs) is rendered once per pass, with a mip pyramid so the warp never aliases.

use std::collections::HashSet;
use std::sync::Arc;

use custos_core::geometry;

use crate::plate::{PlateFonts, PlateSpec, Region, RgbImage};

/// What to render. [`Scene::new`] clamps nonsensical values (see there).
#[derive(Clone, Debug)]
pub struct SceneConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seed: u64,
}

impl Default for SceneConfig {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 25,
            seed: 0,
        }
    }
}

/// One vehicle's plate, from the first frame it was visible to the last.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlatePass {
    /// Exactly the main line's capitals and digits, e.g. "BMK1234" for "B·MK 1234".
    pub plate: String,
    /// "us", "eu" or "br".
    pub region: String,
    pub first_frame: u64,
    pub last_frame: u64,
    /// One box per frame in which the plate was visible, in frame order. Frames in which a
    /// nearer vehicle hid it are left out, so boxes may skip frames.
    pub boxes: Vec<PlateBox>,
}

/// The axis-aligned box around a plate's visible quad in one frame, clipped to the frame.
/// A plate counts as visible while at least half of it is inside the frame, nothing covers
/// it, and it is at least [`MIN_BOX_WIDTH`] px wide.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlateBox {
    pub frame: u64,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Narrower plates are not counted as visible (tiny frames).
pub const MIN_BOX_WIDTH: u32 = 16;
/// Share of the plate's box that must be inside the frame for it to count as visible.
const MIN_VISIBLE: f32 = 0.5;
/// Ground scale (px per metre) at the top edge relative to the bottom edge: how much a vehicle
/// grows while it crosses the frame.
const TOP_TO_BOTTOM_SCALE: f32 = 0.45;
/// Ground scale at the bottom edge, px per metre per px of (16:9-capped) frame width. Plates
/// are stylised at about twice their real size relative to the vehicles, so that they are
/// 110–280 px wide at 1280×720 while two lanes still fit in the frame.
const BOTTOM_SCALE: f32 = 0.325;
/// World x of the lane centres, metres from the camera axis.
const LANES: [f32; 2] = [-0.95, 0.95];
/// Height of the plate centre above the road, metres.
const PLATE_CENTRE_HEIGHT: f32 = 0.33;
const MAX_VEHICLES: usize = 3;
/// A lane takes a new vehicle once the previous one's roof is this far down the frame, so
/// that it does not hide the newcomer's plate.
const LANE_CLEAR: f32 = 0.4;

/// The camera: a pinhole above the road looking down it, the horizon above the frame.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    w: f32,
    h: f32,
    /// y of the horizon (negative: above the frame).
    horizon: f32,
    /// Ground scale in px per metre per px below the horizon.
    a: f32,
}

impl Geometry {
    fn new(width: usize, height: usize) -> Self {
        let (w, h) = (width as f32, height as f32);
        let reference = w.min(h * 16.0 / 9.0);
        let horizon = -h * TOP_TO_BOTTOM_SCALE / (1.0 - TOP_TO_BOTTOM_SCALE);
        Self {
            w,
            h,
            horizon,
            a: BOTTOM_SCALE * reference / (h - horizon),
        }
    }

    /// px per metre on the ground at row `y`.
    fn scale(&self, y: f32) -> f32 {
        self.a * (y - self.horizon)
    }
}

/// BT.601 limited range.
fn rgb_to_yuv([r, g, b]: [f32; 3]) -> [f32; 3] {
    [
        16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
        128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
    ]
}

fn to_u8(v: f32) -> u8 {
    // `as` saturates (and maps NaN to 0); adding 0.5 rounds without a libm call.
    (v + 0.5) as u8
}

fn blend(p: &mut u8, v: f32, a: f32) {
    let old = f32::from(*p);
    *p = to_u8(old + (v - old) * a);
}

/// Length of the overlap of `[p, p + 1)` with `[a, b)`.
fn overlap(p: f32, a: f32, b: f32) -> f32 {
    ((p + 1.0).min(b) - p.max(a)).max(0.0)
}

/// Coverage of `[lo, hi]` by a pixel centred on `x`, where one pixel is `1 / px_per_unit`.
fn band(x: f32, lo: f32, hi: f32, px_per_unit: f32) -> f32 {
    ((x - lo) * px_per_unit + 0.5).clamp(0.0, 1.0) * ((hi - x) * px_per_unit + 0.5).clamp(0.0, 1.0)
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// A mutable I420 frame.
struct Planes<'a> {
    y: &'a mut [u8],
    u: &'a mut [u8],
    v: &'a mut [u8],
    w: usize,
    h: usize,
    cw: usize,
    ch: usize,
}

impl<'a> Planes<'a> {
    fn new(buf: &'a mut [u8], w: usize, h: usize) -> Self {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (y, rest) = buf.split_at_mut(w * h);
        let (u, v) = rest.split_at_mut(cw * ch);
        Self {
            y,
            u,
            v,
            w,
            h,
            cw,
            ch,
        }
    }

    /// Fills a trapezoid (horizontal top and bottom edges), anti-aliased at its edges.
    fn fill_trap(&mut self, t: &Trap) {
        let height = (t.y1 - t.y0).max(1e-3);
        let at = |y: f32| {
            let f = ((y - t.y0) / height).clamp(0.0, 1.0);
            (
                f,
                t.top.0 + (t.bottom.0 - t.top.0) * f,
                t.top.1 + (t.bottom.1 - t.top.1) * f,
            )
        };
        let rows =
            |y0: f32, y1: f32, n: usize| y0.max(0.0) as usize..(y1.ceil().max(0.0) as usize).min(n);
        for row in rows(t.y0, t.y1, self.h) {
            let (f, xl, xr) = at(row as f32 + 0.5);
            let alpha = t.alpha * overlap(row as f32, t.y0, t.y1);
            let line = &mut self.y[row * self.w..(row + 1) * self.w];
            span(line, xl, xr, t.yuv[0] + t.grad * (f - 0.5), alpha);
        }
        for crow in rows(t.y0 / 2.0, t.y1 / 2.0, self.ch) {
            let (_, xl, xr) = at(crow as f32 * 2.0 + 1.0);
            let alpha = t.alpha * overlap(crow as f32, t.y0 / 2.0, t.y1 / 2.0);
            let range = crow * self.cw..(crow + 1) * self.cw;
            span(
                &mut self.u[range.clone()],
                xl / 2.0,
                xr / 2.0,
                t.yuv[1],
                alpha,
            );
            span(&mut self.v[range], xl / 2.0, xr / 2.0, t.yuv[2], alpha);
        }
    }

    /// Warps the plate sprite into `quad` (TL, TR, BR, BL) with bilinear sampling, adding
    /// fresh sensor noise to the luma every frame.
    fn draw_plate(
        &mut self,
        sprite: &Sprite,
        quad: &[[f32; 2]; 4],
        noise: f32,
        grain: &Grain,
        rng: &mut fastrand::Rng,
    ) {
        let Some(inv) = geometry::quad_to_square(quad) else {
            return;
        };
        let (x0, y0, x1, y1) = quad_bounds(quad);
        let (x0, x1) = (
            x0.floor().max(0.0) as usize,
            (x1.ceil().max(0.0) as usize).min(self.w),
        );
        let (y0, y1) = (
            y0.floor().max(0.0) as usize,
            (y1.ceil().max(0.0) as usize).min(self.h),
        );
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let dist = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
        let dest_w = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
        let dest_h = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
        // Edge anti-aliasing wants distances in destination pixels.
        let (kx, ky) = (dest_w.max(1.0), dest_h.max(1.0));
        let edge = |s: f32, k: f32| (s.min(1.0 - s) * k + 0.5).clamp(0.0, 1.0);
        let level = sprite.level_for(dest_w);

        let lv = &sprite.levels[level];
        let (sx, sy) = (lv.w as f32, lv.h as f32);
        for row in y0..y1 {
            let yc = row as f32 + 0.5;
            let line = &mut self.y[row * self.w..(row + 1) * self.w];
            // Fresh noise each row and frame: a random window into the grain table.
            let grain = grain.window(rng, x1 - x0);
            for ((x, p), n) in line.iter_mut().enumerate().take(x1).skip(x0).zip(grain) {
                let Some([s, t]) = geometry::project(&inv, x as f32 + 0.5, yc) else {
                    continue;
                };
                let a = edge(s, kx) * edge(t, ky);
                if a <= 0.0 {
                    continue;
                }
                let val = bilinear(&lv.y, lv.w, lv.h, s * sx - 0.5, t * sy - 0.5) + n * noise;
                blend(p, val, a);
            }
        }

        // Chroma is half resolution: sample the next (half-size) level.
        let lv = &sprite.levels[(level + 1).min(sprite.levels.len() - 1)];
        let (sx, sy) = (lv.w as f32, lv.h as f32);
        let (kx, ky) = (kx / 2.0, ky / 2.0);
        for crow in y0 / 2..y1.div_ceil(2).min(self.ch) {
            let yc = crow as f32 * 2.0 + 1.0;
            for cx in x0 / 2..x1.div_ceil(2).min(self.cw) {
                let Some([s, t]) = geometry::project(&inv, cx as f32 * 2.0 + 1.0, yc) else {
                    continue;
                };
                let a = edge(s, kx) * edge(t, ky);
                if a <= 0.0 {
                    continue;
                }
                let (su, sv) = (s * sx - 0.5, t * sy - 0.5);
                let i = crow * self.cw + cx;
                blend(&mut self.u[i], bilinear(&lv.u, lv.w, lv.h, su, sv), a);
                blend(&mut self.v[i], bilinear(&lv.v, lv.w, lv.h, su, sv), a);
            }
        }
    }
}

/// Unit-variance-ish sensor noise, drawn once per scene and read at random offsets, so the
/// per-pixel cost is a load rather than a random number.
struct Grain(Vec<f32>);

impl Grain {
    const LEN: usize = 1 << 14;

    fn new(rng: &mut fastrand::Rng) -> Self {
        // Triangular distribution in [-1, 1].
        Self(
            (0..Self::LEN)
                .map(|_| rng.f32() + rng.f32() - 1.0)
                .collect(),
        )
    }

    /// `n` consecutive values from a random place (cycling through the table).
    fn window(&self, rng: &mut fastrand::Rng, n: usize) -> impl Iterator<Item = f32> + '_ {
        self.0
            .iter()
            .copied()
            .cycle()
            .skip(rng.usize(..Self::LEN))
            .take(n)
    }
}

/// Fills `[xl, xr)` of one row with `val`, partial coverage at both ends.
fn span(row: &mut [u8], xl: f32, xr: f32, val: f32, alpha: f32) {
    let (xl, xr) = (xl.max(0.0), xr.min(row.len() as f32));
    if xr <= xl || alpha <= 0.0 {
        return;
    }
    let (i0, i1) = (xl.ceil() as usize, xr.floor() as usize);
    if i0 > i1 {
        // Both edges inside one pixel.
        blend(&mut row[xl as usize], val, alpha * (xr - xl));
        return;
    }
    if i0 > 0 && xl < i0 as f32 {
        blend(&mut row[i0 - 1], val, alpha * (i0 as f32 - xl));
    }
    if i1 < row.len() && xr > i1 as f32 {
        blend(&mut row[i1], val, alpha * (xr - i1 as f32));
    }
    if alpha >= 0.999 {
        row[i0..i1].fill(to_u8(val));
    } else {
        row[i0..i1].iter_mut().for_each(|p| blend(p, val, alpha));
    }
}

fn bilinear(plane: &[u8], w: usize, h: usize, x: f32, y: f32) -> f32 {
    geometry::bilinear(w, h, x, y, |x, y| f32::from(plane[y * w + x]))
}

fn quad_bounds(q: &[[f32; 2]; 4]) -> (f32, f32, f32, f32) {
    q.iter().fold(
        (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
        |(x0, y0, x1, y1), p| (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1])),
    )
}

/// One mip level of a plate, as Y, U, V planes.
struct Level {
    w: usize,
    h: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

/// A pass's plate, converted to YUV once, with 2× mip levels down to a few pixels.
struct Sprite {
    levels: Vec<Level>,
}

impl Sprite {
    fn new(img: &RgbImage) -> Self {
        let plane = |c: usize| {
            img.pixels
                .iter()
                .map(|&p| to_u8(rgb_to_yuv(p)[c]))
                .collect()
        };
        let mut levels = vec![Level {
            w: img.width,
            h: img.height,
            y: plane(0),
            u: plane(1),
            v: plane(2),
        }];
        while let Some(prev) = levels.last().filter(|l| l.w >= 8 && l.h >= 4) {
            let (w, h) = (prev.w / 2, prev.h / 2);
            let half = |p: &[u8]| {
                let mut out = Vec::with_capacity(w * h);
                for y in 0..h {
                    for x in 0..w {
                        let at = |dx, dy| u32::from(p[(2 * y + dy) * prev.w + 2 * x + dx]);
                        out.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8);
                    }
                }
                out
            };
            let next = Level {
                w,
                h,
                y: half(&prev.y),
                u: half(&prev.u),
                v: half(&prev.v),
            };
            levels.push(next);
        }
        Self { levels }
    }

    /// The smallest level at least as wide as the plate on screen, so bilinear sampling
    /// minifies by less than 2× and does not alias.
    fn level_for(&self, width: f32) -> usize {
        self.levels
            .iter()
            .rposition(|l| l.w as f32 >= width)
            .unwrap_or(0)
    }
}

/// A trapezoid with horizontal top (`y0`) and bottom (`y1`) edges, x spans at each, in YUV;
/// `grad` is the luma change from top to bottom.
#[derive(Clone, Copy, Debug)]
struct Trap {
    y0: f32,
    y1: f32,
    top: (f32, f32),
    bottom: (f32, f32),
    yuv: [f32; 3],
    grad: f32,
    alpha: f32,
}

impl Trap {
    fn rect(x0: f32, y0: f32, x1: f32, y1: f32, yuv: [f32; 3]) -> Self {
        Self {
            y0,
            y1,
            top: (x0, x1),
            bottom: (x0, x1),
            yuv,
            grad: 0.0,
            alpha: 1.0,
        }
    }

    fn bounds(&self) -> (f32, f32, f32, f32) {
        (
            self.top.0.min(self.bottom.0),
            self.y0,
            self.top.1.max(self.bottom.1),
            self.y1,
        )
    }
}

/// A vehicle's front view, heights in metres above the road (apparent, as seen from above).
#[derive(Clone, Copy, Debug)]
struct Body {
    width: f32,
    face_top: f32,
    hood_top: f32,
    glass_top: f32,
    roof_top: f32,
}

const BODIES: [Body; 3] = [
    // Saloon, SUV, van.
    Body {
        width: 1.7,
        face_top: 0.78,
        hood_top: 1.0,
        glass_top: 1.34,
        roof_top: 1.45,
    },
    Body {
        width: 1.8,
        face_top: 0.95,
        hood_top: 1.12,
        glass_top: 1.52,
        roof_top: 1.66,
    },
    Body {
        width: 1.85,
        face_top: 1.0,
        hood_top: 1.1,
        glass_top: 1.7,
        roof_top: 1.95,
    },
];

const PAINTS: [[f32; 3]; 10] = [
    [235.0, 235.0, 232.0],
    [182.0, 185.0, 190.0],
    [110.0, 112.0, 116.0],
    [28.0, 29.0, 32.0],
    [165.0, 25.0, 30.0],
    [30.0, 60.0, 130.0],
    [30.0, 72.0, 48.0],
    [200.0, 185.0, 150.0],
    [220.0, 110.0, 30.0],
    [90.0, 20.0, 35.0],
];

/// Where a vehicle is in one frame.
#[derive(Clone, Copy, Debug)]
struct Pose {
    /// Row of the vehicle's contact with the road.
    ground_y: f32,
    /// px per metre of the vehicle.
    s: f32,
    /// Column of its centre.
    cx: f32,
}

struct Vehicle {
    text: String,
    region: Region,
    lane: usize,
    lane_x: f32,
    size: f32,
    spawn: u64,
    /// 1 / (ground_y - horizon) at spawn and its decrease per frame: constant speed towards
    /// the camera.
    inv_u0: f32,
    inv_step: f32,
    body: Body,
    paint: [f32; 3],
    bumper: [f32; 3],
    plate_w: f32,
    plate_h: f32,
    yaw: f32,
    pitch: f32,
    roll: f32,
    noise: f32,
    sprite: Sprite,
    boxes: Vec<PlateBox>,
    pass_over: bool,
}

impl Vehicle {
    #[allow(clippy::too_many_arguments)]
    fn new(
        spec: PlateSpec,
        lane: usize,
        frame: u64,
        geo: &Geometry,
        fps: f32,
        fonts: &PlateFonts,
        rng: &mut fastrand::Rng,
    ) -> Self {
        let size = 0.9 + 0.15 * rng.f32();
        let plate_w = match spec.region {
            Region::Us => 0.6,
            Region::Eu => 0.64,
            Region::Br => 0.62,
        };
        let plate_h = plate_w / spec.aspect();
        // Plate centre rows relate to the ground row as (y - horizon) = kappa (ground_y - horizon).
        let kappa = 1.0 - PLATE_CENTRE_HEIGHT * geo.a * size;
        let inv_in = kappa / -geo.horizon;
        let inv_out = kappa / (geo.h - geo.horizon);
        // The plate crosses the frame in 2–5 s.
        let frames = ((2.0 + 3.0 * rng.f32()) * fps).max(1.0);
        let exit_width = plate_w * geo.a * size / inv_out;
        // About the largest the plate gets while it counts; bigger would only cost render time.
        // Some passes get a coarser plate instead, which the warp then magnifies: a mild,
        // size-dependent blur (an out-of-focus or cheap camera) that costs nothing per frame.
        let sharpness = if rng.u32(0..100) < 35 {
            0.55 + 0.25 * rng.f32()
        } else {
            1.0
        };
        let master = ((exit_width * sharpness).ceil() as usize).clamp(48, 1024);
        let img = spec.render(fonts, master, rng);
        let side = if LANES[lane] < 0.0 { 1.0 } else { -1.0 };
        let body = BODIES[rng.usize(..BODIES.len())];
        let jitter = |rng: &mut fastrand::Rng| (rng.f32() - 0.5) * 16.0;
        let paint = PAINTS[rng.usize(..PAINTS.len())].map(|c| (c + jitter(rng)).clamp(0.0, 255.0));
        let bumper = if rng.bool() {
            [38.0, 38.0, 40.0]
        } else {
            paint.map(|c| c * 0.85)
        };
        Self {
            text: spec.text,
            region: spec.region,
            lane,
            lane_x: LANES[lane] + (rng.f32() - 0.5) * 0.16,
            size,
            spawn: frame,
            inv_u0: 1.0 / -geo.horizon,
            inv_step: (inv_in - inv_out) / frames,
            body,
            paint: rgb_to_yuv(paint),
            bumper: rgb_to_yuv(bumper),
            plate_w,
            plate_h,
            yaw: side * 0.1 + (rng.f32() - 0.5) * 0.3,
            pitch: 0.1 + 0.2 * rng.f32(),
            roll: (rng.f32() - 0.5) * 0.1,
            noise: 1.5 + 2.5 * rng.f32(),
            sprite: Sprite::new(&img),
            boxes: Vec::new(),
            pass_over: false,
        }
    }

    /// None once the vehicle has passed the camera.
    fn pose(&self, geo: &Geometry, frame: u64) -> Option<Pose> {
        let inv = self.inv_u0 - self.inv_step * frame.saturating_sub(self.spawn) as f32;
        if inv <= 1e-6 {
            return None;
        }
        let u = 1.0 / inv;
        let pose = Pose {
            ground_y: geo.horizon + u,
            s: geo.a * u * self.size,
            cx: geo.w / 2.0 + self.lane_x * geo.a * u,
        };
        (pose.ground_y - self.body.roof_top * pose.s < geo.h).then_some(pose)
    }

    fn top_y(&self, geo: &Geometry, frame: u64) -> Option<f32> {
        self.pose(geo, frame)
            .map(|p| p.ground_y - self.body.roof_top * p.s)
    }

    /// The shapes to draw, back to front; the first is the shadow.
    fn parts(&self, p: &Pose) -> Vec<Trap> {
        let (b, s, cx, g) = (&self.body, p.s, p.cx, p.ground_y);
        let y = |m: f32| g - m * s;
        let half = b.width / 2.0 * s;
        let dark = [24.0, 128.0, 128.0];
        let glass = rgb_to_yuv([44.0, 52.0, 62.0]);
        let light = rgb_to_yuv([240.0, 240.0, 228.0]);
        let grille = rgb_to_yuv([46.0, 48.0, 52.0]);
        let lighter = |c: [f32; 3], k: f32| [c[0] + k, c[1], c[2]];
        let mut parts = vec![
            Trap {
                alpha: 0.55,
                ..Trap::rect(
                    cx - half * 1.08,
                    y(0.06),
                    cx + half * 1.08,
                    g + 0.05 * s,
                    [18.0, 128.0, 128.0],
                )
            },
            Trap::rect(cx - half + 0.05 * s, y(0.3), cx - half + 0.33 * s, g, dark),
            Trap::rect(cx + half - 0.33 * s, y(0.3), cx + half - 0.05 * s, g, dark),
            Trap {
                y0: y(b.roof_top),
                y1: y(b.glass_top),
                top: (cx - half * 0.62, cx + half * 0.62),
                bottom: (cx - half * 0.68, cx + half * 0.68),
                yuv: lighter(self.paint, 8.0),
                grad: 0.0,
                alpha: 1.0,
            },
            Trap {
                y0: y(b.glass_top),
                y1: y(b.hood_top),
                top: (cx - half * 0.68, cx + half * 0.68),
                bottom: (cx - half * 0.9, cx + half * 0.9),
                yuv: glass,
                grad: -18.0,
                alpha: 1.0,
            },
            Trap {
                y0: y(b.hood_top),
                y1: y(b.face_top),
                top: (cx - half * 0.92, cx + half * 0.92),
                bottom: (cx - half, cx + half),
                yuv: lighter(self.paint, 12.0),
                grad: -6.0,
                alpha: 1.0,
            },
            Trap {
                grad: -14.0,
                ..Trap::rect(cx - half, y(b.face_top), cx + half, y(0.12), self.paint)
            },
            // The hood's front edge casts a thin shadow on the face.
            Trap::rect(
                cx - half,
                y(b.face_top),
                cx + half,
                y(b.face_top - 0.025),
                lighter(self.paint, -25.0),
            ),
            Trap::rect(cx - half, y(0.45), cx + half, y(0.12), self.bumper),
            Trap::rect(
                cx - 0.34 * s,
                y(b.face_top - 0.1),
                cx + 0.34 * s,
                y(0.52),
                grille,
            ),
            Trap::rect(
                cx - 0.3 * s,
                y(b.face_top - 0.16),
                cx + 0.3 * s,
                y(b.face_top - 0.18),
                lighter(grille, 25.0),
            ),
            Trap::rect(
                cx - 0.3 * s,
                y(0.62),
                cx + 0.3 * s,
                y(0.6),
                lighter(grille, 25.0),
            ),
        ];
        for side in [-1.0, 1.0] {
            let x = cx + side * (half - 0.22 * s);
            let (top, bottom) = (y(b.face_top - 0.05), y(b.face_top - 0.21));
            parts.push(Trap::rect(x - 0.17 * s, top, x + 0.17 * s, bottom, dark));
            parts.push(Trap::rect(
                x - 0.14 * s,
                top + 0.025 * s,
                x + 0.14 * s,
                bottom - 0.025 * s,
                light,
            ));
            // Mirrors beside the windscreen's foot.
            let (m0, m1) = (
                cx + side * half * 0.88,
                cx + side * (half * 0.88 + 0.16 * s),
            );
            parts.push(Trap::rect(
                m0.min(m1),
                y(b.hood_top + 0.14),
                m0.max(m1),
                y(b.hood_top + 0.02),
                self.paint,
            ));
        }
        parts
    }

    /// The plate's corners (TL, TR, BR, BL), with the pass's yaw, pitch and roll.
    fn plate_quad(&self, p: &Pose) -> [[f32; 2]; 4] {
        let (cx, cy) = (p.cx, p.ground_y - PLATE_CENTRE_HEIGHT * p.s);
        let (hw, hh) = (self.plate_w * p.s / 2.0, self.plate_h * p.s / 2.0);
        // Viewing distance for the perspective of the tilts, in the same px.
        let distance = 6.0 * hw;
        let (sy, cyaw) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        let (sr, cr) = self.roll.sin_cos();
        [[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]].map(|[x, y]| {
            let z = x * sy + y * sp;
            let f = distance / (distance + z);
            let (px, py) = (x * cyaw * f, y * cp * f);
            [cx + px * cr - py * sr, cy + px * sr + py * cr]
        })
    }

    /// Ends the pass: Some if the plate was seen in at least two frames.
    fn finish(&mut self) -> Option<PlatePass> {
        if self.pass_over {
            return None;
        }
        self.pass_over = true;
        let boxes = std::mem::take(&mut self.boxes);
        let (first, last) = (boxes.first()?.frame, boxes.last()?.frame);
        (boxes.len() >= 2).then(|| PlatePass {
            plate: self.text.clone(),
            region: self.region.as_str().to_string(),
            first_frame: first,
            last_frame: last,
            boxes,
        })
    }
}

/// The box of `quad` clipped to the frame, and the share of it inside the frame.
fn visible_box(quad: &[[f32; 2]; 4], frame: u64, w: usize, h: usize) -> (Option<PlateBox>, f32) {
    let (x0, y0, x1, y1) = quad_bounds(quad);
    let area = ((x1 - x0) * (y1 - y0)).max(1e-6);
    let (cx0, cy0) = (x0.max(0.0), y0.max(0.0));
    let (cx1, cy1) = (x1.min(w as f32), y1.min(h as f32));
    if cx1 <= cx0 || cy1 <= cy0 {
        return (None, 0.0);
    }
    let share = (cx1 - cx0) * (cy1 - cy0) / area;
    let (bx, by) = (cx0.floor() as u32, cy0.floor() as u32);
    let b = PlateBox {
        frame,
        x: bx,
        y: by,
        w: cx1.ceil() as u32 - bx,
        h: cy1.ceil() as u32 - by,
    };
    (Some(b), share)
}

/// A deterministic synthetic road scene.
pub struct Scene {
    config: SceneConfig,
    fonts: Arc<PlateFonts>,
    geo: Geometry,
    rng: fastrand::Rng,
    background: Vec<u8>,
    grain: Grain,
    vehicles: Vec<Vehicle>,
    used_texts: HashSet<String>,
    next_frame: u64,
    next_spawn: u64,
}

impl Scene {
    /// Builds the scene and renders its background. Width and height are clamped to
    /// 2..=7680 and 2..=4320, fps to 1..=240; [`Scene::frame_len`] follows the clamped size.
    pub fn new(config: SceneConfig, fonts: Arc<PlateFonts>) -> Scene {
        let config = SceneConfig {
            width: config.width.clamp(2, 7680),
            height: config.height.clamp(2, 4320),
            fps: config.fps.clamp(1, 240),
            seed: config.seed,
        };
        let geo = Geometry::new(config.width as usize, config.height as usize);
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let background = render_background(
            &geo,
            config.width as usize,
            config.height as usize,
            &mut rng,
        );
        let grain = Grain::new(&mut rng);
        let next_spawn = rng.u64(0..=u64::from(config.fps) / 2);
        Scene {
            config,
            fonts,
            geo,
            rng,
            background,
            grain,
            vehicles: Vec::new(),
            used_texts: HashSet::new(),
            next_frame: 0,
            next_spawn,
        }
    }

    /// The configuration after clamping.
    pub fn config(&self) -> &SceneConfig {
        &self.config
    }

    /// Length of the I420 buffer render_next wants: w*h + 2*((w+1)/2 * (h+1)/2).
    pub fn frame_len(&self) -> usize {
        let (w, h) = (self.config.width as usize, self.config.height as usize);
        w * h + 2 * (w.div_ceil(2) * h.div_ceil(2))
    }

    /// Index of the frame render_next will render next.
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Renders ahead and returns the first pass whose plate (at least `min_len` characters)
    /// enters the picture at or after frame `from` and ends within `horizon` frames after it.
    /// Scenes are deterministic by their config, so this tells what a test camera rendering the
    /// same config will show, before it shows it.
    pub fn first_pass_from(mut self, from: u64, horizon: u64, min_len: usize) -> Option<PlatePass> {
        let mut buf = vec![0u8; self.frame_len()];
        while self.next_frame < from + horizon {
            let found = self
                .render_next(&mut buf)
                .into_iter()
                .find(|p| p.first_frame >= from && p.plate.len() >= min_len);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Renders the next frame as I420 (planar Y, U, V, tightly packed, chroma half size rounded
    /// up) into the first [`Self::frame_len`] bytes of `i420`, and returns the passes that
    /// ended with it: plates that were visible up to an earlier frame and no longer are (left
    /// the frame). Each pass is returned once; its `last_frame` is before this frame.
    ///
    /// # Panics
    /// If `i420` is shorter than [`Self::frame_len`].
    pub fn render_next(&mut self, i420: &mut [u8]) -> Vec<PlatePass> {
        let len = self.frame_len();
        assert!(
            i420.len() >= len,
            "I420 buffer has {} bytes, a frame needs {len}",
            i420.len()
        );
        let frame = self.next_frame;
        self.next_frame += 1;
        let buf = &mut i420[..len];
        buf.copy_from_slice(&self.background);
        let geo = self.geo;
        let (w, h) = (self.config.width as usize, self.config.height as usize);

        let mut ended = Vec::new();
        self.vehicles.retain_mut(|v| {
            let alive = v.pose(&geo, frame).is_some();
            if !alive {
                ended.extend(v.finish());
            }
            alive
        });
        self.spawn(frame);

        // Far to near, so nearer vehicles cover farther ones.
        let mut order: Vec<(usize, Pose)> = self
            .vehicles
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.pose(&geo, frame).map(|p| (i, p)))
            .collect();
        order.sort_by(|a, b| a.1.ground_y.total_cmp(&b.1.ground_y));
        let parts: Vec<Vec<Trap>> = order
            .iter()
            .map(|(i, p)| self.vehicles[*i].parts(p))
            .collect();

        let mut planes = Planes::new(buf, w, h);
        for (k, (i, pose)) in order.iter().enumerate() {
            let v = &mut self.vehicles[*i];
            for t in &parts[k] {
                planes.fill_trap(t);
            }
            let quad = v.plate_quad(pose);
            planes.draw_plate(&v.sprite, &quad, v.noise, &self.grain, &mut self.rng);
            if v.pass_over {
                continue;
            }
            let (seen, share) = visible_box(&quad, frame, w, h);
            let covered = |b: &PlateBox| {
                let area = (b.w * b.h) as f32;
                // Skip each nearer vehicle's shadow, which does not hide anything.
                parts[k + 1..]
                    .iter()
                    .flat_map(|p| p.iter().skip(1))
                    .any(|t| {
                        let (x0, y0, x1, y1) = t.bounds();
                        let ox = (x1.min((b.x + b.w) as f32) - x0.max(b.x as f32)).max(0.0);
                        let oy = (y1.min((b.y + b.h) as f32) - y0.max(b.y as f32)).max(0.0);
                        ox * oy > 0.02 * area
                    })
            };
            match seen {
                Some(b) if share >= MIN_VISIBLE && b.w >= MIN_BOX_WIDTH && !covered(&b) => {
                    v.boxes.push(b)
                }
                _ => {
                    let (_, cy0, _, _) = quad_bounds(&quad);
                    // Leaving through the bottom (or sides, low in the frame): it will not return.
                    if share < MIN_VISIBLE && cy0 > h as f32 / 2.0 {
                        ended.extend(v.finish());
                    }
                }
            }
        }
        ended
    }

    /// Starts a vehicle when it is time, a lane is clear and fewer than three are on screen.
    fn spawn(&mut self, frame: u64) {
        if frame < self.next_spawn || self.vehicles.len() >= MAX_VEHICLES {
            return;
        }
        let geo = self.geo;
        let free: Vec<usize> = (0..LANES.len())
            .filter(|&lane| {
                self.vehicles.iter().filter(|v| v.lane == lane).all(|v| {
                    v.top_y(&geo, frame)
                        .is_none_or(|top| top >= geo.h * LANE_CLEAR)
                })
            })
            .collect();
        if free.is_empty() {
            return;
        }
        let lane = free[self.rng.usize(..free.len())];
        // Texts are unique within a scene; the space is large, so this rarely loops.
        let Some(spec) = (0..100)
            .map(|_| PlateSpec::random(&mut self.rng))
            .find(|spec| !self.used_texts.contains(&spec.text))
        else {
            return;
        };
        self.used_texts.insert(spec.text.clone());
        let fps = self.config.fps as f32;
        let vehicle = Vehicle::new(spec, lane, frame, &geo, fps, &self.fonts, &mut self.rng);
        self.vehicles.push(vehicle);
        let gap = (0.3 + 1.7 * self.rng.f32()) * fps;
        self.next_spawn = frame + (gap as u64).max(1);
    }
}

/// The empty road: asphalt with lane markings between kerbs, pavements and verges, some
/// texture and blotches, rendered once per scene.
fn render_background(geo: &Geometry, w: usize, h: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0u8; w * h + 2 * cw * ch];
    // Coarse random grid, bilinearly interpolated: patches of darker and lighter asphalt.
    let cell = (w.max(h) / 24).max(4);
    let (gw, gh) = (w / cell + 2, h / cell + 2);
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.f32() - 0.5).collect();
    let blotch = |x: usize, y: usize| {
        let (fx, fy) = (x as f32 / cell as f32, y as f32 / cell as f32);
        let (ix, iy) = (fx as usize, fy as usize);
        let (tx, ty) = (fx - ix as f32, fy - iy as f32);
        let g = |i: usize, j: usize| grid[j * gw + i];
        let top = g(ix, iy) + (g(ix + 1, iy) - g(ix, iy)) * tx;
        let bottom = g(ix, iy + 1) + (g(ix + 1, iy + 1) - g(ix, iy + 1)) * tx;
        top + (bottom - top) * ty
    };
    let (luma, chroma) = out.split_at_mut(w * h);
    for y in 0..h {
        for x in 0..w {
            let (c, grain) = ground_rgb(geo, x as f32 + 0.5, y as f32 + 0.5);
            let noise = (rng.f32() + rng.f32() - 1.0) * grain + blotch(x, y) * 14.0;
            luma[y * w + x] = to_u8(rgb_to_yuv(c)[0] + noise);
        }
    }
    let (u, v) = chroma.split_at_mut(cw * ch);
    for cy in 0..ch {
        for cx in 0..cw {
            let (c, _) = ground_rgb(geo, cx as f32 * 2.0 + 1.0, cy as f32 * 2.0 + 1.0);
            let yuv = rgb_to_yuv(c);
            u[cy * cw + cx] = to_u8(yuv[1] + rng.f32() - 0.5);
            v[cy * cw + cx] = to_u8(yuv[2] + rng.f32() - 0.5);
        }
    }
    out
}

/// The road's colour at a frame point, and how grainy it is there.
fn ground_rgb(geo: &Geometry, x: f32, y: f32) -> ([f32; 3], f32) {
    let s = geo.scale(y).max(1e-3);
    let wx = (x - geo.w / 2.0) / s; // metres across
    let ax = wx.abs();
    let t = y / geo.h.max(1.0);
    // Along the road: about 2.5 dash periods from the top edge to the bottom one.
    let periods = 2.5 / (1.0 / -geo.horizon - 1.0 / (geo.h - geo.horizon));
    let along = periods / (y - geo.horizon);

    let grass = [
        66.0 + 20.0 * (wx * 1.3).sin(),
        100.0 + 12.0 * (wx * 0.7).cos(),
        48.0,
    ];
    let pavement = if (along * 4.0).fract() < 0.05 {
        [120.0, 118.0, 112.0]
    } else {
        [156.0, 154.0, 148.0]
    };
    let kerb = [176.0, 176.0, 170.0];
    let shade = 96.0 - 14.0 * t;
    let mut asphalt = [shade - 2.0, shade, shade + 4.0];
    // Darker wheel tracks in each lane.
    for lane in LANES {
        for wheel in [-0.72, 0.72] {
            let d = (wx - lane - wheel) / 0.22;
            asphalt = asphalt.map(|c| c - 7.0 * (-d * d).exp());
        }
    }
    let paint = [212.0, 212.0, 205.0];
    if along.fract() < 0.45 {
        asphalt = mix(asphalt, paint, band(wx, -0.06, 0.06, s));
    }
    asphalt = mix(asphalt, paint, band(ax, 1.9, 2.02, s));

    let mut c = grass;
    c = mix(c, pavement, band(ax, -1.0, 3.6, s));
    c = mix(c, kerb, band(ax, -1.0, 2.22, s));
    c = mix(c, [60.0, 60.0, 60.0], band(ax, 2.05, 2.1, s));
    c = mix(c, asphalt, band(ax, -1.0, 2.05, s));
    let grain = if ax < 2.05 {
        7.0
    } else if ax < 3.6 {
        4.0
    } else {
        12.0
    };
    (c, grain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn fonts() -> Arc<PlateFonts> {
        static FONTS: OnceLock<Arc<PlateFonts>> = OnceLock::new();
        FONTS
            .get_or_init(|| match PlateFonts::load() {
                Ok(f) => Arc::new(f),
                Err(e) => panic!("{e}"),
            })
            .clone()
    }

    fn run(config: SceneConfig, frames: u64) -> (Vec<u8>, Vec<PlatePass>) {
        let mut scene = Scene::new(config, fonts());
        let mut buf = vec![0u8; scene.frame_len()];
        let mut passes = Vec::new();
        for i in 0..frames {
            assert_eq!(scene.next_frame(), i);
            passes.extend(scene.render_next(&mut buf));
        }
        (buf, passes)
    }

    fn check_passes(passes: &[PlatePass], w: u32, h: u32) {
        let mut texts = HashSet::new();
        for p in passes {
            assert!(texts.insert(p.plate.clone()), "repeated plate {}", p.plate);
            assert!((4..=9).contains(&p.plate.len()), "{}", p.plate);
            assert!(
                p.plate
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            assert!(["us", "eu", "br"].contains(&p.region.as_str()));
            assert!(p.first_frame < p.last_frame, "{p:?}");
            assert_eq!(p.boxes.first().map(|b| b.frame), Some(p.first_frame));
            assert_eq!(p.boxes.last().map(|b| b.frame), Some(p.last_frame));
            assert!(p.boxes.windows(2).all(|b| b[0].frame < b[1].frame));
            for b in &p.boxes {
                assert!(
                    b.w > 0 && b.h > 0 && b.x + b.w <= w && b.y + b.h <= h,
                    "{b:?} in {w}x{h}"
                );
            }
        }
    }

    #[test]
    fn renders_sane_720p_frames_and_passes() {
        let config = SceneConfig {
            width: 1280,
            height: 720,
            fps: 25,
            seed: 42,
        };
        let mut scene = Scene::new(config, fonts());
        assert_eq!(scene.frame_len(), 1280 * 720 * 3 / 2);
        let mut buf = vec![0u8; scene.frame_len()];
        let mut passes = Vec::new();
        let mut max_live = 0;
        for _ in 0..200 {
            passes.extend(scene.render_next(&mut buf));
            max_live = max_live.max(scene.vehicles.len());
        }
        assert!(max_live <= MAX_VEHICLES);
        assert!(passes.len() >= 2, "only {} passes in 8 s", passes.len());
        check_passes(&passes, 1280, 720);
        for p in &passes {
            // 2–5 s at 25 fps, give or take the half-visible frames at the edges.
            let span = p.last_frame - p.first_frame;
            assert!(
                (30..=140).contains(&span),
                "{} lasted {span} frames",
                p.plate
            );
            let widest = p.boxes.iter().map(|b| b.w).max().unwrap_or(0);
            assert!(
                (150..=330).contains(&widest),
                "{} at most {widest} px wide",
                p.plate
            );
        }
        // Colour, not grey: vehicles and plates move the chroma well away from 128.
        let chroma = &buf[1280 * 720..];
        assert!(chroma.iter().any(|&c| !(100..=156).contains(&c)));
        assert!(buf[..1280 * 720].iter().all(|&y| (1..=254).contains(&y)));
    }

    #[test]
    fn same_seed_same_output_different_seed_different_output() {
        let config = |seed| SceneConfig {
            width: 640,
            height: 360,
            fps: 25,
            seed,
        };
        let (a, pa) = run(config(7), 150);
        let (b, pb) = run(config(7), 150);
        let (c, pc) = run(config(8), 150);
        assert!(!pa.is_empty());
        assert!(a == b && pa == pb);
        assert!(a != c && pa != pc);
    }

    #[test]
    fn odd_and_tiny_configs_do_not_panic() {
        for (width, height, fps) in [
            (1278, 718, 30),
            (641, 361, 7),
            (160, 120, 25),
            (3, 5, 1),
            (0, 0, 0),
            (1920, 1080, 60),
            (720, 1280, 1000),
        ] {
            let mut scene = Scene::new(
                SceneConfig {
                    width,
                    height,
                    fps,
                    seed: 1,
                },
                fonts(),
            );
            let (w, h) = (scene.config().width, scene.config().height);
            let mut buf = vec![0u8; scene.frame_len() + 3];
            let mut passes = Vec::new();
            for _ in 0..120 {
                passes.extend(scene.render_next(&mut buf));
            }
            check_passes(&passes, w, h);
        }
    }

    #[test]
    fn passes_serialise_as_json() {
        let pass = PlatePass {
            plate: "ABC1234".into(),
            region: "us".into(),
            first_frame: 3,
            last_frame: 4,
            boxes: vec![PlateBox {
                frame: 3,
                x: 1,
                y: 2,
                w: 3,
                h: 4,
            }],
        };
        let json = serde_json::to_string(&pass).expect("serialise");
        assert!(json.contains("\"plate\":\"ABC1234\"") && json.contains("\"frame\":3"));
        assert_eq!(serde_json::from_str::<PlatePass>(&json).ok(), Some(pass));
    }
}
