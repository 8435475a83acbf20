//! Licence plates for the synthetic test scene: random plate texts in US, EU and Brazilian
//! formats and their flat RGB images.
//!
//! A [`PlateSpec`] is one random plate (its ground-truth text plus the design it is printed in).
//! [`PlateSpec::render`] draws it once per vehicle pass; the scene then only warps that small
//! image into each frame, so glyphs are rasterised once per pass, never per frame.

use std::fmt;
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontArc, Glyph, PxScale, Rect, ScaleFont, point};

/// Highway Gothic (US plates), from Debian's fonts-roadgeek.
pub const HIGHWAY_GOTHIC_PATH: &str = "/usr/share/fonts/truetype/roadgeek/RG2014D.ttf";
/// A DIN-like face (EU and Mercosur plates), from Debian's fonts-opendin.
pub const DIN_PATH: &str = "/usr/share/fonts/truetype/opendin/OSP-DIN.ttf";
/// State names, from fonts-dejavu-core.
pub const SANS_BOLD_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
/// Slogans and old Brazilian plates, from fonts-dejavu-extra.
pub const SANS_CONDENSED_BOLD_PATH: &str =
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf";

/// Faces real US plates' main lines resemble besides Highway Gothic, for OCR training data:
/// narrower and wider road-sign series (fonts-roadgeek), a plain, a condensed and a monospaced
/// bold sans (fonts-dejavu-core, fonts-dejavu-extra).
pub const LETTERING_FACE_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/roadgeek/RG2014B.ttf",
    "/usr/share/fonts/truetype/roadgeek/RG2014C.ttf",
    "/usr/share/fonts/truetype/roadgeek/RG2014E.ttf",
    "/usr/share/fonts/truetype/roadgeek/RG2014EM.ttf",
    "/usr/share/fonts/truetype/roadgeek/RG2014F.ttf",
    SANS_BOLD_PATH,
    SANS_CONDENSED_BOLD_PATH,
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
];

/// A plate font could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("plate font {} is missing; run scripts/setup to install the font packages", path.display())]
    Missing { path: PathBuf },
    #[error(
        "plate font {} cannot be read ({source}); run scripts/setup to reinstall the font packages",
        path.display()
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "plate font {} is not a usable font ({reason}); run scripts/setup to reinstall the font packages",
        path.display()
    )]
    Invalid { path: PathBuf, reason: String },
}

/// One loaded face plus its cap height, which text layout sizes by (plates specify letter
/// height, not em size).
#[derive(Clone)]
struct PlateFont {
    font: FontArc,
    /// Cap height in px per px of `PxScale::y`.
    cap_ratio: f32,
}

impl PlateFont {
    fn load(path: &Path) -> Result<Self, FontError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                FontError::Missing {
                    path: path.to_owned(),
                }
            } else {
                FontError::Unreadable {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let invalid = |reason: String| FontError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let font = FontArc::try_from_vec(bytes).map_err(|e| invalid(e.to_string()))?;
        if let Some(c) = ('A'..='Z')
            .chain('0'..='9')
            .find(|&c| font.glyph_id(c).0 == 0)
        {
            return Err(invalid(format!("it has no glyph for {c:?}")));
        }
        let probe = font.glyph_id('H').with_scale(100.0);
        let cap = font
            .outline_glyph(probe)
            .map_or(0.0, |g| g.px_bounds().height());
        if cap < 1.0 {
            return Err(invalid("its 'H' has no outline".into()));
        }
        Ok(Self {
            font,
            cap_ratio: cap / 100.0,
        })
    }
}

/// The faces plates are printed in; load once and share (`Arc`) between scenes.
#[derive(Clone)]
pub struct PlateFonts {
    highway: PlateFont,
    din: PlateFont,
    sans_bold: PlateFont,
    sans_condensed_bold: PlateFont,
    /// Other faces for US main lines ([`PlateSpec::with_lettering`]); none unless loaded.
    lettering: Vec<PlateFont>,
}

impl fmt::Debug for PlateFonts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlateFonts").finish_non_exhaustive()
    }
}

impl PlateFonts {
    /// Loads the fonts from the Debian packages that scripts/setup installs.
    pub fn load() -> Result<Self, FontError> {
        Self::load_from(
            Path::new(HIGHWAY_GOTHIC_PATH),
            Path::new(DIN_PATH),
            Path::new(SANS_BOLD_PATH),
            Path::new(SANS_CONDENSED_BOLD_PATH),
        )
    }

    /// Loads the fonts from other paths (tests, non-Debian hosts).
    pub fn load_from(
        highway: &Path,
        din: &Path,
        sans_bold: &Path,
        sans_condensed_bold: &Path,
    ) -> Result<Self, FontError> {
        Ok(Self {
            highway: PlateFont::load(highway)?,
            din: PlateFont::load(din)?,
            sans_bold: PlateFont::load(sans_bold)?,
            sans_condensed_bold: PlateFont::load(sans_condensed_bold)?,
            lettering: Vec::new(),
        })
    }

    /// Adds faces that US main lines with [`PlateSpec::with_lettering`] are printed in (for
    /// OCR training data: [`LETTERING_FACE_PATHS`]).
    pub fn with_lettering_faces(mut self, paths: &[&str]) -> Result<Self, FontError> {
        for path in paths {
            self.lettering.push(PlateFont::load(Path::new(path))?);
        }
        Ok(self)
    }
}

/// Where a plate design comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    Us,
    Eu,
    Br,
}

impl Region {
    /// The ground-truth name: "us", "eu" or "br".
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Br => "br",
        }
    }
}

/// A flat RGB image, channels 0.0..=255.0 (sRGB values, not linear light).
#[derive(Clone, Debug)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[f32; 3]>,
}

type Rgb = [f32; 3];

const fn rgb(r: u8, g: u8, b: u8) -> Rgb {
    [r as f32, g as f32, b as f32]
}

const WHITE: Rgb = rgb(250, 250, 250);
const BLACK: Rgb = rgb(12, 12, 14);
const EU_BLUE: Rgb = rgb(0, 51, 153);
const EU_YELLOW: Rgb = rgb(255, 204, 0);

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
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

    fn blend(&mut self, x: usize, y: usize, c: Rgb, a: f32) {
        let p = &mut self.pixels[y * self.width + x];
        *p = mix(*p, c, a);
    }

    fn vertical_gradient(&mut self, top: Rgb, bottom: Rgb) {
        let h = self.height.max(2) as f32 - 1.0;
        for (y, row) in self.pixels.chunks_exact_mut(self.width).enumerate() {
            row.fill(mix(top, bottom, y as f32 / h));
        }
    }

    /// Fills an axis-aligned rectangle with anti-aliased (fractional) edges.
    fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Rgb, alpha: f32) {
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

    fn fill_circle(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, alpha: f32) {
        self.fill_shape(cx - r, cy - r, cx + r, cy + r, c, alpha, |x, y| {
            r - ((x - cx) * (x - cx) + (y - cy) * (y - cy)).sqrt()
        });
    }

    /// Fills where `inside(x, y)` (a signed distance, positive inside, in px) is positive,
    /// anti-aliased over one pixel.
    #[allow(clippy::too_many_arguments)]
    fn fill_shape(
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
    fn stroke_round_rect(&mut self, inset: f32, radius: f32, thickness: f32, c: Rgb) {
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
    fn fill_below(&mut self, bottom: f32, c: Rgb, alpha: f32, top: impl Fn(f32) -> f32) {
        for x in 0..self.width {
            let t = top(x as f32 + 0.5);
            self.fill_rect(x as f32, t, x as f32 + 1.0, bottom, c, alpha);
        }
    }

    /// A diagonal highlight, as the retro-reflective sheeting shows under light.
    fn sheen(&mut self, strength: f32, centre: f32) {
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
fn overlap(p: f32, a: f32, b: f32) -> f32 {
    ((p + 1.0).min(b) - p.max(a)).max(0.0)
}

/// Where a line of text goes: centred in `[x0, x1]`, its capitals `cap` px tall centred on `cy`.
#[derive(Clone, Copy, Debug)]
struct TextBox {
    x0: f32,
    x1: f32,
    cy: f32,
    cap: f32,
}

/// How a line of glyph groups is laid out.
#[derive(Clone, Copy)]
struct TextStyle<'a> {
    font: &'a PlateFont,
    /// Extra space between groups, in cap heights.
    gap: f32,
    /// Extra space between letters, in cap heights.
    tracking: f32,
    /// Glyph width against the face's own (1 = as designed); spacing scales with it.
    width: f32,
}

impl<'a> TextStyle<'a> {
    /// A main line in `font` as designed; the gap between groups is the separator's.
    fn main_line(font: &'a PlateFont) -> Self {
        Self {
            font,
            gap: 0.0,
            tracking: 0.06,
            width: 1.0,
        }
    }
}

/// Lays out `groups` (at most this wide, narrowed horizontally if needed, so the ink never
/// leaves the box), draws them and returns the centres of the gaps between groups.
fn draw_text(
    img: &mut RgbImage,
    style: TextStyle<'_>,
    groups: &[&str],
    bx: TextBox,
    color: Rgb,
    alpha: f32,
) -> Vec<f32> {
    let sy = bx.cap / style.font.cap_ratio;
    let mut scale = PxScale {
        x: sy * style.width,
        y: sy,
    };
    let box_w = (bx.x1 - bx.x0).max(1.0);
    let mut laid = layout(style, groups, scale, bx.cap * style.width);
    for _ in 0..4 {
        let Some(ink) = laid.ink else {
            return Vec::new();
        };
        if ink.width() <= box_w {
            break;
        }
        scale.x *= box_w / ink.width() * 0.985;
        laid = layout(style, groups, scale, bx.cap * scale.x / sy);
    }
    let Some(ink) = laid.ink else {
        return Vec::new();
    };
    let dx = bx.x0 + (box_w - ink.width()) / 2.0 - ink.min.x;
    let baseline = bx.cy + bx.cap / 2.0;
    for glyph in laid.glyphs {
        let pos = point(glyph.position.x + dx, glyph.position.y + baseline);
        let glyph = Glyph {
            position: pos,
            ..glyph
        };
        let Some(outline) = style.font.font.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|x, y, c| {
            let (px, py) = (b.min.x as i64 + i64::from(x), b.min.y as i64 + i64::from(y));
            if px >= 0 && py >= 0 && (px as usize) < img.width && (py as usize) < img.height {
                img.blend(px as usize, py as usize, color, c.min(1.0) * alpha);
            }
        });
    }
    laid.gaps.into_iter().map(|g| g + dx).collect()
}

struct Layout {
    glyphs: Vec<Glyph>,
    gaps: Vec<f32>,
    ink: Option<Rect>,
}

/// Positions glyphs on a baseline at y = 0 from x = 0; `em` scales gaps and tracking.
fn layout(style: TextStyle<'_>, groups: &[&str], scale: PxScale, em: f32) -> Layout {
    let font = style.font.font.as_scaled(scale);
    let mut out = Layout {
        glyphs: Vec::new(),
        gaps: Vec::new(),
        ink: None,
    };
    let mut pen = 0.0;
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            out.gaps.push(pen + style.gap * em / 2.0);
            pen += style.gap * em;
        }
        let mut prev = None;
        for c in group.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                pen += font.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(pen, 0.0));
            if let Some(o) = style.font.font.outline_glyph(glyph.clone()) {
                let b = o.px_bounds();
                out.ink = Some(match out.ink {
                    None => b,
                    Some(u) => Rect {
                        min: point(u.min.x.min(b.min.x), u.min.y.min(b.min.y)),
                        max: point(u.max.x.max(b.max.x), u.max.y.max(b.max.y)),
                    },
                });
            }
            out.glyphs.push(glyph);
            pen += font.h_advance(id) + style.tracking * em;
            prev = Some(id);
        }
    }
    out
}

/// Letters most issuers use: no I, O, Q.
pub const COMMON_LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
/// Every letter, for training data: some issuers (and vanity plates) do use I, O and Q.
pub const ALL_LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

/// Expands a pattern: `L` a letter of `letters` ([`COMMON_LETTERS`] when empty), `D` a digit,
/// anything else kept.
fn fill_pattern(rng: &mut fastrand::Rng, letters: &[u8], pattern: &str) -> String {
    let letters = if letters.is_empty() {
        COMMON_LETTERS
    } else {
        letters
    };
    pattern
        .chars()
        .map(|c| match c {
            'L' => char::from(letters[rng.usize(..letters.len())]),
            'D' => char::from(DIGITS[rng.usize(..DIGITS.len())]),
            other => other,
        })
        .collect()
}

/// What separates the printed groups of the main line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Separator {
    Space,
    Dash,
    /// German registration seals between the district and the letters.
    Seals,
    /// A mark between the groups, as many US and Canadian designs print one (a dot, a star, a
    /// state seal, New Hampshire's Old Man): it is not a character and must not be read.
    Mark(Mark),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Dot,
    Square,
    Diamond,
    Star,
    /// A pale picture as tall as the characters.
    Emblem,
    /// New Mexico's zia: a disc with rays.
    Sun,
    /// A state seal: a ring around a disc.
    Seal,
}

impl Mark {
    const ALL: [Mark; 7] = [
        Mark::Dot,
        Mark::Square,
        Mark::Diamond,
        Mark::Star,
        Mark::Emblem,
        Mark::Sun,
        Mark::Seal,
    ];

    /// Group gap it needs, in cap heights.
    fn gap(self) -> f32 {
        match self {
            Mark::Emblem | Mark::Sun | Mark::Seal => 0.85,
            Mark::Dot | Mark::Square | Mark::Diamond | Mark::Star => 0.45,
        }
    }

    fn draw(self, img: &mut RgbImage, x: f32, cy: f32, cap: f32, ink: Rgb) {
        let r = cap * 0.1;
        match self {
            Mark::Dot => img.fill_circle(x, cy, r, ink, 1.0),
            Mark::Square => img.fill_rect(x - r, cy - r, x + r, cy + r, ink, 1.0),
            Mark::Diamond => img.fill_shape(x - r, cy - r, x + r, cy + r, ink, 1.0, |px, py| {
                r - (px - x).abs() - (py - cy).abs()
            }),
            Mark::Star => {
                let r = r * 1.5;
                img.fill_shape(x - r, cy - r, x + r, cy + r, ink, 1.0, |px, py| {
                    star_sdf(px - x, py - cy, r)
                })
            }
            Mark::Emblem => {
                // A pale filled oval: as big as a character, but no glyph's shape.
                let (rx, ry) = (cap * 0.3, cap * 0.45);
                img.fill_shape(x - rx, cy - ry, x + rx, cy + ry, ink, 0.45, |px, py| {
                    let (dx, dy) = ((px - x) / rx, (py - cy) / ry);
                    (1.0 - (dx * dx + dy * dy).sqrt()) * rx
                })
            }
            Mark::Sun => {
                let r = cap * 0.16;
                img.fill_circle(x, cy, r, ink, 1.0);
                // Four bundles of three rays.
                let (ray, t) = (cap * 0.18, cap * 0.025);
                for k in -1..=1 {
                    let o = k as f32 * cap * 0.07;
                    img.fill_rect(x - r - ray, cy + o - t, x - r, cy + o + t, ink, 1.0);
                    img.fill_rect(x + r, cy + o - t, x + r + ray, cy + o + t, ink, 1.0);
                    img.fill_rect(x + o - t, cy - r - ray, x + o + t, cy - r, ink, 1.0);
                    img.fill_rect(x + o - t, cy + r, x + o + t, cy + r + ray, ink, 1.0);
                }
            }
            Mark::Seal => {
                let r = cap * 0.38;
                let ring = cap * 0.05;
                img.fill_shape(x - r, cy - r, x + r, cy + r, ink, 0.8, |px, py| {
                    ring - ((px - x).hypot(py - cy) - (r - ring)).abs()
                });
                img.fill_circle(x, cy, r * 0.55, ink, 0.55);
            }
        }
    }
}

/// Print beside a US main line that is not part of the registration, so not in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SidePrint {
    /// Small letters stacked on top of each other (a plate type: `R/T`, `TRK`, `C/I`).
    Stacked(String),
    /// A sponsor's or cause's badge: a dark box with two lines of small print.
    Badge(String, String),
}

/// Ornament behind a US main line (kept pale, so the text keeps its contrast).
#[derive(Clone, Copy, Debug)]
enum Art {
    None,
    Mountains(Rgb),
    Sun(Rgb),
    Waves(Rgb),
    Star(Rgb),
}

/// A US state-like design.
#[derive(Debug)]
struct UsStyle {
    state: &'static str,
    slogan: &'static str,
    top: Rgb,
    bottom: Rgb,
    ink: Rgb,
    state_ink: Rgb,
    slogan_ink: Rgb,
    top_band: Option<Rgb>,
    bottom_band: Option<Rgb>,
    art: Art,
    formats: &'static [&'static str],
    /// Printed between the letter and digit groups of ABC1234-like formats.
    separator: Option<Separator>,
}

const US_STYLES: &[UsStyle] = &[
    UsStyle {
        state: "CALIFORNIA",
        slogan: "DMV.CA.GOV",
        top: rgb(252, 252, 252),
        bottom: rgb(234, 238, 244),
        ink: rgb(22, 32, 96),
        state_ink: rgb(190, 30, 40),
        slogan_ink: rgb(22, 32, 96),
        top_band: None,
        bottom_band: None,
        art: Art::None,
        formats: &["DLLLDDD"],
        separator: None,
    },
    UsStyle {
        state: "NEW YORK",
        slogan: "EXCELSIOR",
        top: rgb(250, 250, 248),
        bottom: rgb(242, 240, 232),
        ink: rgb(20, 40, 100),
        state_ink: WHITE,
        slogan_ink: rgb(20, 40, 100),
        top_band: Some(rgb(28, 62, 140)),
        bottom_band: Some(rgb(236, 150, 50)),
        art: Art::None,
        formats: &["LLLDDDD"],
        separator: Some(Separator::Dash),
    },
    UsStyle {
        state: "TEXAS",
        slogan: "THE LONE STAR STATE",
        top: rgb(250, 250, 248),
        bottom: rgb(222, 224, 228),
        ink: rgb(15, 15, 18),
        state_ink: rgb(15, 15, 18),
        slogan_ink: rgb(15, 15, 18),
        top_band: None,
        bottom_band: None,
        art: Art::Star(rgb(205, 210, 222)),
        formats: &["LLLDDDD"],
        separator: Some(Separator::Dash),
    },
    UsStyle {
        state: "ARIZONA",
        slogan: "GRAND CANYON STATE",
        top: rgb(205, 228, 246),
        bottom: rgb(250, 222, 180),
        ink: rgb(110, 25, 30),
        state_ink: rgb(110, 25, 30),
        slogan_ink: rgb(110, 25, 30),
        top_band: None,
        bottom_band: None,
        art: Art::Mountains(rgb(226, 196, 210)),
        formats: &["LLLDDDD", "LLLDDD"],
        separator: None,
    },
    UsStyle {
        state: "NEW MEXICO",
        slogan: "LAND OF ENCHANTMENT",
        top: rgb(252, 218, 70),
        bottom: rgb(246, 204, 52),
        ink: rgb(170, 22, 32),
        state_ink: rgb(170, 22, 32),
        slogan_ink: rgb(170, 22, 32),
        top_band: None,
        bottom_band: None,
        art: Art::Sun(rgb(250, 196, 60)),
        formats: &["LLLDDD", "DDDLLL"],
        separator: Some(Separator::Space),
    },
    UsStyle {
        state: "MINNESOTA",
        slogan: "EXPLORE MINNESOTA",
        top: rgb(252, 253, 255),
        bottom: rgb(196, 218, 242),
        ink: rgb(20, 45, 110),
        state_ink: rgb(20, 45, 110),
        slogan_ink: rgb(20, 45, 110),
        top_band: None,
        bottom_band: None,
        art: Art::Waves(rgb(170, 200, 236)),
        formats: &["DDDLLL", "LLLDDD"],
        separator: Some(Separator::Space),
    },
    UsStyle {
        state: "VISITPA.COM",
        slogan: "PENNSYLVANIA",
        top: rgb(252, 252, 252),
        bottom: rgb(240, 242, 246),
        ink: rgb(20, 40, 100),
        state_ink: WHITE,
        slogan_ink: rgb(20, 40, 100),
        top_band: Some(rgb(30, 62, 140)),
        bottom_band: Some(rgb(246, 204, 60)),
        art: Art::None,
        formats: &["LLLDDDD"],
        separator: Some(Separator::Dash),
    },
    UsStyle {
        state: "WASHINGTON",
        slogan: "EVERGREEN STATE",
        top: rgb(246, 248, 252),
        bottom: rgb(222, 230, 240),
        ink: rgb(20, 40, 110),
        state_ink: rgb(40, 70, 140),
        slogan_ink: rgb(40, 70, 140),
        top_band: None,
        bottom_band: None,
        art: Art::Mountains(rgb(200, 210, 226)),
        formats: &["LLLDDDD", "DLLLDDD"],
        separator: None,
    },
    UsStyle {
        state: "NEW YORK",
        slogan: "THE EMPIRE STATE",
        top: rgb(246, 200, 48),
        bottom: rgb(240, 190, 40),
        ink: rgb(18, 30, 80),
        state_ink: rgb(18, 30, 80),
        slogan_ink: rgb(18, 30, 80),
        top_band: None,
        bottom_band: None,
        art: Art::None,
        formats: &["LLLDDDD"],
        separator: Some(Separator::Dash),
    },
    UsStyle {
        state: "MYFLORIDA.COM",
        slogan: "SUNSHINE STATE",
        top: rgb(252, 252, 250),
        bottom: rgb(244, 244, 236),
        ink: rgb(15, 85, 55),
        state_ink: rgb(15, 85, 55),
        slogan_ink: rgb(15, 85, 55),
        top_band: None,
        bottom_band: None,
        art: Art::Sun(rgb(252, 214, 170)),
        formats: &["DLLLDDD", "LLLDDD"],
        separator: None,
    },
];

const GERMAN_DISTRICTS: &[&str] = &[
    "B", "M", "K", "F", "S", "H", "D", "HH", "KA", "MZ", "WI", "DO", "BN", "HB", "GE", "WOB",
    "LER", "BOR", "FFB", "STA",
];
const DUTCH_FORMATS: &[&str] = &["LL-DDD-L", "L-DDD-LL", "LLL-DD-L", "DD-LLL-D", "L-DD-LLL"];
const BRAZIL_CITIES: &[&str] = &[
    "SAO PAULO - SP",
    "RIO DE JANEIRO - RJ",
    "CURITIBA - PR",
    "CAMPINAS - SP",
    "BELO HORIZONTE - MG",
    "PORTO ALEGRE - RS",
    "RECIFE - PE",
];
const FRENCH_DEPARTMENTS: &[&str] = &["75", "69", "13", "33", "59", "31", "44", "67"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Design {
    Us(usize),
    German,
    Dutch,
    French,
    BrazilOld,
    Mercosur,
}

/// One random plate: what is printed on its main line and in which design.
#[derive(Clone, Debug)]
pub struct PlateSpec {
    /// Ground truth: the main line's capitals and digits, without spaces or dashes.
    pub text: String,
    pub region: Region,
    design: Design,
    /// The main line as printed, split where the design puts a space, dash or seals.
    groups: Vec<String>,
    separator: Separator,
    side: Option<SidePrint>,
    lettering: Option<Lettering>,
}

/// A US main line printed other than as its design prints it: in another face, wider or
/// narrower, more widely spaced, larger or smaller.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Lettering {
    /// Which of the loaded lettering faces (taken modulo their number).
    face: usize,
    width: f32,
    /// Extra space between letters, in cap heights.
    tracking: f32,
    /// Cap height against the design's.
    cap: f32,
}

impl PlateSpec {
    /// A random plate: mostly US, some EU and Brazilian.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        Self::random_with_letters(rng, COMMON_LETTERS)
    }

    /// The same plate with a main line of `len` characters, each a letter or a digit at random,
    /// printed as one group. For US designs only (others are returned as they are): real US
    /// plates carry vanity texts and mixed serials (`R820503`, `SB3X6N`), not only the designs'
    /// formats, and a model trained on those formats alone learns them as a prior.
    pub fn with_mixed_text(self, rng: &mut fastrand::Rng, letters: &[u8], len: usize) -> Self {
        if self.region != Region::Us {
            return self;
        }
        let pattern: String = (0..len.clamp(1, 8))
            .map(|_| if rng.bool() { 'L' } else { 'D' })
            .collect();
        let text = fill_pattern(rng, letters, &pattern);
        Self {
            groups: vec![text.clone()],
            separator: Separator::Space,
            text,
            ..self
        }
    }

    /// The same plate with its main line split in two by a mark, a dash or a space, as real US
    /// designs print serials of any kind (`KC4 * Z3X`). For US designs only (others are returned
    /// as they are); for OCR training data, which must learn that the marks are no characters.
    pub fn with_separator(self, rng: &mut fastrand::Rng) -> Self {
        let len = self.text.len();
        if self.region != Region::Us || len < 4 {
            return self;
        }
        let at = if self.groups.len() == 2 {
            self.groups[0].len()
        } else {
            rng.usize(2..=len - 2)
        };
        let separator = match rng.u8(..5) {
            0 => Separator::Space,
            1 => Separator::Dash,
            _ => Separator::Mark(Mark::ALL[rng.usize(..Mark::ALL.len())]),
        };
        Self {
            groups: vec![self.text[..at].to_string(), self.text[at..].to_string()],
            separator,
            ..self
        }
    }

    /// The same plate with print beside its main line that is not part of the registration:
    /// stacked small letters or a badge at the left, as many US plates carry. For US designs
    /// only (others are returned as they are); for OCR training data, which must learn to leave
    /// them out of the text.
    pub fn with_side_print(self, rng: &mut fastrand::Rng) -> Self {
        if self.region != Region::Us {
            return self;
        }
        let letters =
            |rng: &mut fastrand::Rng, n: usize| fill_pattern(rng, ALL_LETTERS, &"L".repeat(n));
        let side = if rng.u8(..3) < 2 {
            let n = 2 + usize::from(rng.bool());
            SidePrint::Stacked(letters(rng, n))
        } else {
            let (a, b) = (4 + rng.usize(..3), 3 + rng.usize(..3));
            SidePrint::Badge(letters(rng, a), letters(rng, b))
        };
        Self {
            side: Some(side),
            ..self
        }
    }

    /// The same plate with its main line lettered otherwise: in one of the faces
    /// [`PlateFonts::with_lettering_faces`] loaded (Highway Gothic when none are), 0.8–1.35 times
    /// as wide, 0–0.3 cap heights between letters, 0.85–1.2 times as tall. For US designs only
    /// (others are returned as they are); for OCR training data: real US plates use many faces,
    /// and a model that saw one reads a wide face's characters into each other (`721902` read
    /// `72902`) and confuses its M, W and H.
    pub fn with_lettering(self, rng: &mut fastrand::Rng) -> Self {
        if self.region != Region::Us {
            return self;
        }
        let lettering = Lettering {
            face: rng.usize(..1024),
            width: 0.8 + rng.f32() * 0.55,
            tracking: rng.f32() * 0.3,
            cap: 0.85 + rng.f32() * 0.35,
        };
        Self {
            lettering: Some(lettering),
            ..self
        }
    }

    /// A random plate whose letters come from `letters` (upper-case ASCII; empty means
    /// [`COMMON_LETTERS`]).
    pub fn random_with_letters(rng: &mut fastrand::Rng, letters: &[u8]) -> Self {
        let roll = rng.u32(0..100);
        let (design, groups, separator) = if roll < 60 {
            let index = rng.usize(..US_STYLES.len());
            let style = &US_STYLES[index];
            let format = style.formats[rng.usize(..style.formats.len())];
            let text = fill_pattern(rng, letters, format);
            // Split ABC1234 / 123ABC at the letter–digit boundary when the design prints one.
            let split = text
                .char_indices()
                .skip(1)
                .find(|&(i, c)| {
                    let prev = text.as_bytes()[i - 1];
                    c.is_ascii_digit() != prev.is_ascii_digit()
                })
                .map(|(i, _)| i);
            match (style.separator, split) {
                (Some(sep), Some(i)) if text.len() <= 7 && count_runs(&text) == 2 => (
                    Design::Us(index),
                    vec![text[..i].to_string(), text[i..].to_string()],
                    sep,
                ),
                _ => (Design::Us(index), vec![text], Separator::Space),
            }
        } else if roll < 85 {
            match rng.u32(0..3) {
                0 => {
                    let district = GERMAN_DISTRICTS[rng.usize(..GERMAN_DISTRICTS.len())];
                    let pattern = if rng.bool() { "L" } else { "LL" };
                    let series = fill_pattern(rng, letters, pattern);
                    // German plates have at most 8 characters; keep at least 4.
                    let room = 8 - district.len() - series.len();
                    let min = 4usize.saturating_sub(district.len() + series.len()).max(1);
                    let n = rng.usize(min..=room.min(4));
                    let mut digits = fill_pattern(rng, letters, &"D".repeat(n));
                    if digits.starts_with('0') {
                        digits.replace_range(0..1, &rng.u8(1..=9).to_string());
                    }
                    (
                        Design::German,
                        vec![district.to_string(), series, digits],
                        Separator::Seals,
                    )
                }
                1 => {
                    let format = DUTCH_FORMATS[rng.usize(..DUTCH_FORMATS.len())];
                    let text = fill_pattern(rng, letters, format);
                    (
                        Design::Dutch,
                        text.split('-').map(str::to_string).collect(),
                        Separator::Dash,
                    )
                }
                _ => {
                    let text = fill_pattern(rng, letters, "LL-DDD-LL");
                    (
                        Design::French,
                        text.split('-').map(str::to_string).collect(),
                        Separator::Dash,
                    )
                }
            }
        } else if rng.bool() {
            let text = fill_pattern(rng, letters, "LLL-DDDD");
            (
                Design::BrazilOld,
                text.split('-').map(str::to_string).collect(),
                Separator::Dash,
            )
        } else {
            (
                Design::Mercosur,
                vec![fill_pattern(rng, letters, "LLLDLDD")],
                Separator::Space,
            )
        };
        let region = match design {
            Design::Us(_) => Region::Us,
            Design::German | Design::Dutch | Design::French => Region::Eu,
            Design::BrazilOld | Design::Mercosur => Region::Br,
        };
        Self {
            text: groups.concat(),
            region,
            design,
            groups,
            separator,
            side: None,
            lettering: None,
        }
    }

    /// Width / height of the physical plate.
    pub fn aspect(&self) -> f32 {
        match self.design {
            Design::Us(_) => 2.0,
            Design::German | Design::Dutch | Design::French => 520.0 / 110.0,
            Design::BrazilOld | Design::Mercosur => 400.0 / 130.0,
        }
    }

    /// Renders the plate `width` px wide (height from [`Self::aspect`]); `rng` picks the
    /// per-plate details (stickers, frames, wear).
    pub fn render(&self, fonts: &PlateFonts, width: usize, rng: &mut fastrand::Rng) -> RgbImage {
        self.render_styled(fonts, width, rng, false)
    }

    /// As [`Self::render`], but Brazilian grey plates are drawn as their real Mandatory face
    /// draws them: the digit 1 a bare bar like the letter I, the letter O (on half the plates) as
    /// the 0, a dot between the groups. For OCR training data, which must teach telling them
    /// apart by position; the test cameras keep [`Self::render`].
    pub fn render_mandatory(
        &self,
        fonts: &PlateFonts,
        width: usize,
        rng: &mut fastrand::Rng,
    ) -> RgbImage {
        self.render_styled(fonts, width, rng, true)
    }

    fn render_styled(
        &self,
        fonts: &PlateFonts,
        width: usize,
        rng: &mut fastrand::Rng,
        mandatory: bool,
    ) -> RgbImage {
        let width = width.clamp(16, 4096);
        let height = ((width as f32 / self.aspect()).round() as usize).max(4);
        let mut img = RgbImage::new(width, height, WHITE);
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        match self.design {
            Design::Us(i) => render_us(&mut img, fonts, &US_STYLES[i], self, rng),
            Design::German | Design::Dutch | Design::French => {
                render_eu(&mut img, fonts, self.design, &groups, self.separator, rng)
            }
            Design::BrazilOld if mandatory => {
                let round_o = rng.bool();
                let drawn: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        g.chars()
                            .map(|c| match c {
                                '1' => 'I',
                                'O' if round_o => '0',
                                c => c,
                            })
                            .collect()
                    })
                    .collect();
                let drawn: Vec<&str> = drawn.iter().map(String::as_str).collect();
                render_brazil_old(&mut img, fonts, &drawn, true, rng)
            }
            Design::BrazilOld => render_brazil_old(&mut img, fonts, &groups, false, rng),
            Design::Mercosur => render_mercosur(&mut img, fonts, &groups),
        }
        weather(&mut img, rng);
        img
    }
}

fn count_runs(text: &str) -> usize {
    let b = text.as_bytes();
    1 + b
        .windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
        .count()
}

/// Draws the main line in `face` (its gap is set here, from the separator) with its
/// separators.
fn draw_main_line(
    img: &mut RgbImage,
    face: TextStyle<'_>,
    groups: &[&str],
    separator: Separator,
    bx: TextBox,
    ink: Rgb,
    emboss: Option<Rgb>,
) -> Vec<f32> {
    let gap = match (groups.len(), separator) {
        (1, _) => 0.0,
        (_, Separator::Space) => 0.32,
        (_, Separator::Dash) => 0.42,
        (_, Separator::Seals) => 0.62,
        (_, Separator::Mark(mark)) => mark.gap(),
    };
    let style = TextStyle { gap, ..face };
    if let Some(shadow) = emboss {
        // Embossed characters cast a faint shadow down-right.
        let off = bx.cap * 0.035;
        let shifted = TextBox {
            x0: bx.x0 + off,
            x1: bx.x1 + off,
            cy: bx.cy + off,
            ..bx
        };
        draw_text(img, style, groups, shifted, shadow, 0.45);
    }
    let gaps = draw_text(img, style, groups, bx, ink, 1.0);
    for &g in &gaps {
        match separator {
            Separator::Dash => {
                let (hw, hh) = (bx.cap * 0.11, bx.cap * 0.05);
                img.fill_rect(g - hw, bx.cy - hh, g + hw, bx.cy + hh, ink, 1.0);
            }
            Separator::Mark(mark) => mark.draw(img, g, bx.cy, bx.cap, ink),
            Separator::Space | Separator::Seals => {}
        }
    }
    gaps
}

fn render_us(
    img: &mut RgbImage,
    fonts: &PlateFonts,
    style: &UsStyle,
    spec: &PlateSpec,
    rng: &mut fastrand::Rng,
) {
    let (w, h) = (img.width as f32, img.height as f32);
    img.vertical_gradient(style.top, style.bottom);
    match style.art {
        Art::None => {}
        Art::Mountains(c) => {
            let peaks: Vec<(f32, f32)> = (0..4)
                .map(|_| (rng.f32() * w, h * (0.45 + 0.2 * rng.f32())))
                .collect();
            img.fill_below(h, c, 0.8, |x| {
                peaks
                    .iter()
                    .map(|&(px, py)| py + (x - px).abs() * 0.6)
                    .fold(h * 0.8, f32::min)
            });
        }
        Art::Sun(c) => img.fill_circle(w * (0.3 + 0.4 * rng.f32()), h * 0.62, h * 0.3, c, 0.7),
        Art::Waves(c) => {
            let phase = rng.f32() * 6.0;
            img.fill_below(h, c, 0.7, |x| {
                h * 0.74 + h * 0.04 * (x / w * 14.0 + phase).sin()
            });
        }
        Art::Star(c) => {
            let (cx, cy, r) = (w * 0.5, h * 0.55, h * 0.32);
            img.fill_shape(cx - r, cy - r, cx + r, cy + r, c, 0.8, |x, y| {
                star_sdf(x - cx, y - cy, r)
            });
        }
    }
    if let Some(band) = style.top_band {
        img.fill_rect(0.0, 0.0, w, h * 0.21, band, 1.0);
    }
    if let Some(band) = style.bottom_band {
        img.fill_rect(0.0, h * 0.82, w, h, band, 1.0);
    }
    img.sheen(0.12 + 0.1 * rng.f32(), rng.f32());

    let state_box = TextBox {
        x0: w * 0.25,
        x1: w * 0.75,
        cy: h * 0.115,
        cap: h * 0.1,
    };
    let state_style = TextStyle {
        font: &fonts.sans_bold,
        gap: 0.0,
        tracking: 0.08,
        width: 1.0,
    };
    draw_text(
        img,
        state_style,
        &[style.state],
        state_box,
        style.state_ink,
        1.0,
    );
    let slogan_box = TextBox {
        x0: w * 0.16,
        x1: w * 0.84,
        cy: h * 0.905,
        cap: h * 0.065,
    };
    let slogan_style = TextStyle {
        font: &fonts.sans_condensed_bold,
        gap: 0.0,
        tracking: 0.06,
        width: 1.0,
    };
    draw_text(
        img,
        slogan_style,
        &[style.slogan],
        slogan_box,
        style.slogan_ink,
        1.0,
    );

    // Bolt holes and the registration sticker in a top corner.
    for x in [w * 0.19, w * 0.81] {
        img.fill_circle(x, h * 0.115, h * 0.028, rgb(70, 70, 74), 0.9);
    }
    if rng.u32(0..10) < 7 {
        let colors = [
            rgb(215, 40, 40),
            rgb(40, 150, 60),
            rgb(250, 200, 20),
            rgb(40, 90, 200),
        ];
        let c = colors[rng.usize(..colors.len())];
        let x0 = if rng.bool() { w * 0.04 } else { w * 0.84 };
        let (x1, y0, y1) = (x0 + w * 0.11, h * 0.05, h * 0.2);
        img.fill_rect(x0, y0, x1, y1, c, 1.0);
        let year = format!("{}", rng.u32(23..=27));
        let bx = TextBox {
            x0: x0 + w * 0.015,
            x1: x1 - w * 0.015,
            cy: (y0 + y1) / 2.0,
            cap: h * 0.07,
        };
        let small = TextStyle {
            font: &fonts.sans_bold,
            gap: 0.0,
            tracking: 0.0,
            width: 1.0,
        };
        draw_text(img, small, &[&year], bx, rgb(20, 20, 20), 0.9);
    }

    let shadow = mix(style.ink, style.bottom, 0.55);
    let mut main = TextBox {
        x0: w * 0.065,
        x1: w * 0.935,
        cy: h * 0.535,
        cap: h * 0.44,
    };
    let mut face = TextStyle::main_line(&fonts.highway);
    if let Some(l) = spec.lettering {
        face = TextStyle {
            font: fonts
                .lettering
                .get(l.face % fonts.lettering.len().max(1))
                .unwrap_or(&fonts.highway),
            tracking: l.tracking,
            width: l.width,
            ..face
        };
        main.cap *= l.cap;
    }
    if let Some(side) = &spec.side {
        let (x0, x1) = (w * 0.06, w * 0.17);
        main.x0 = x1 + w * 0.02;
        draw_side_print(img, fonts, side, x0, x1, main.cy, main.cap, style.ink);
    }
    let groups: Vec<&str> = spec.groups.iter().map(String::as_str).collect();
    draw_main_line(
        img,
        face,
        &groups,
        spec.separator,
        main,
        style.ink,
        Some(shadow),
    );

    match rng.u32(0..10) {
        // A thin embossed rim in the ink colour.
        0..=3 => img.stroke_round_rect(h * 0.025, h * 0.06, h * 0.02, style.ink),
        // A dealer's plate frame, chrome or black.
        4..=6 => {
            let c = if rng.bool() {
                rgb(30, 30, 34)
            } else {
                rgb(170, 172, 178)
            };
            img.stroke_round_rect(0.0, h * 0.08, h * 0.045, c);
        }
        _ => {}
    }
}

/// Draws `side` between `x0` and `x1`, centred on the main line's `cy`.
#[allow(clippy::too_many_arguments)]
fn draw_side_print(
    img: &mut RgbImage,
    fonts: &PlateFonts,
    side: &SidePrint,
    x0: f32,
    x1: f32,
    cy: f32,
    cap: f32,
    ink: Rgb,
) {
    let small = TextStyle {
        font: &fonts.sans_bold,
        gap: 0.0,
        tracking: 0.0,
        width: 1.0,
    };
    match side {
        SidePrint::Stacked(letters) => {
            let step = cap * 1.05 / letters.len() as f32;
            for (k, c) in letters.chars().enumerate() {
                let y = cy - cap * 0.525 + (k as f32 + 0.5) * step;
                draw_text(
                    img,
                    small,
                    &[&c.to_string()],
                    TextBox {
                        x0,
                        x1,
                        cy: y,
                        cap: step * 0.72,
                    },
                    ink,
                    1.0,
                );
            }
        }
        SidePrint::Badge(top, bottom) => {
            img.fill_rect(x0, cy - cap * 0.5, x1, cy + cap * 0.5, ink, 1.0);
            let inner = |cy| TextBox {
                x0: x0 + cap * 0.06,
                x1: x1 - cap * 0.06,
                cy,
                cap: cap * 0.22,
            };
            draw_text(img, small, &[top], inner(cy - cap * 0.2), WHITE, 1.0);
            draw_text(img, small, &[bottom], inner(cy + cap * 0.2), WHITE, 1.0);
        }
    }
}

/// Signed distance-ish to a five-pointed star of outer radius `r` (positive inside).
fn star_sdf(x: f32, y: f32, r: f32) -> f32 {
    let angle = x.atan2(-y);
    let sector = std::f32::consts::TAU / 5.0;
    let a = (angle.rem_euclid(sector) - sector / 2.0).abs() / (sector / 2.0);
    // Radius of the outline along this direction: inner 0.4 r between the points.
    let edge = r * (0.4 + 0.6 * (1.0 - a).powi(2));
    edge - x.hypot(y)
}

fn render_eu(
    img: &mut RgbImage,
    fonts: &PlateFonts,
    design: Design,
    groups: &[&str],
    separator: Separator,
    rng: &mut fastrand::Rng,
) {
    let (w, h) = (img.width as f32, img.height as f32);
    let (top, bottom) = if design == Design::Dutch {
        (rgb(250, 206, 30), rgb(242, 194, 24))
    } else {
        (rgb(250, 250, 248), rgb(232, 233, 232))
    };
    img.vertical_gradient(top, bottom);
    img.sheen(0.1 + 0.1 * rng.f32(), rng.f32());
    let band = w * 0.085;
    let country = match design {
        Design::German => "D",
        Design::Dutch => "NL",
        _ => "F",
    };
    draw_eu_band(img, fonts, 0.0, band, country);
    let mut x1 = w * 0.975;
    if design == Design::French {
        // Right band: a region logo and department number, as French plates carry.
        img.fill_rect(w - band, 0.0, w, h, EU_BLUE, 1.0);
        img.fill_circle(w - band / 2.0, h * 0.3, h * 0.12, rgb(250, 250, 250), 0.9);
        let dept = FRENCH_DEPARTMENTS[rng.usize(..FRENCH_DEPARTMENTS.len())];
        let bx = TextBox {
            x0: w - band * 0.85,
            x1: w - band * 0.15,
            cy: h * 0.72,
            cap: h * 0.22,
        };
        let style = TextStyle {
            font: &fonts.din,
            gap: 0.0,
            tracking: 0.0,
            width: 1.0,
        };
        draw_text(img, style, &[dept], bx, WHITE, 1.0);
        x1 = w - band - w * 0.02;
    }
    let main = TextBox {
        x0: band + w * 0.025,
        x1,
        cy: h * 0.5,
        cap: h * 0.66,
    };
    let gaps = draw_main_line(
        img,
        TextStyle::main_line(&fonts.din),
        groups,
        separator,
        main,
        BLACK,
        None,
    );
    if separator == Separator::Seals
        && let Some(&g) = gaps.first()
    {
        // Inspection sticker above, district seal below.
        let stickers = [
            rgb(230, 120, 40),
            rgb(60, 150, 220),
            rgb(230, 200, 40),
            rgb(200, 90, 160),
        ];
        img.fill_circle(
            g,
            h * 0.33,
            h * 0.13,
            stickers[rng.usize(..stickers.len())],
            1.0,
        );
        img.fill_circle(g, h * 0.33, h * 0.05, rgb(40, 40, 40), 0.6);
        img.fill_circle(g, h * 0.68, h * 0.135, rgb(235, 235, 235), 1.0);
        img.fill_circle(g, h * 0.68, h * 0.09, rgb(200, 60, 50), 0.8);
    }
    img.stroke_round_rect(h * 0.02, h * 0.08, h * 0.04, BLACK);
}

/// The blue EU band: a ring of stars and the country code.
fn draw_eu_band(img: &mut RgbImage, fonts: &PlateFonts, x0: f32, band: f32, country: &str) {
    let h = img.height as f32;
    img.fill_rect(x0, 0.0, x0 + band, h, EU_BLUE, 1.0);
    let (cx, cy, r) = (x0 + band / 2.0, h * 0.3, h * 0.16);
    for i in 0..12 {
        let a = i as f32 * std::f32::consts::TAU / 12.0;
        img.fill_circle(
            cx + r * a.cos(),
            cy + r * a.sin(),
            h * 0.024,
            EU_YELLOW,
            1.0,
        );
    }
    let bx = TextBox {
        x0: x0 + band * 0.12,
        x1: x0 + band * 0.88,
        cy: h * 0.74,
        cap: h * 0.25,
    };
    let style = TextStyle {
        font: &fonts.din,
        gap: 0.0,
        tracking: 0.0,
        width: 1.0,
    };
    draw_text(img, style, &[country], bx, WHITE, 1.0);
}

fn render_brazil_old(
    img: &mut RgbImage,
    fonts: &PlateFonts,
    groups: &[&str],
    dot: bool,
    rng: &mut fastrand::Rng,
) {
    let (w, h) = (img.width as f32, img.height as f32);
    img.vertical_gradient(rgb(192, 194, 198), rgb(168, 170, 174));
    img.sheen(0.18, rng.f32());
    let city = BRAZIL_CITIES[rng.usize(..BRAZIL_CITIES.len())];
    let city_box = TextBox {
        x0: w * 0.2,
        x1: w * 0.8,
        cy: h * 0.15,
        cap: h * 0.12,
    };
    let style = TextStyle {
        font: &fonts.sans_condensed_bold,
        gap: 0.0,
        tracking: 0.06,
        width: 1.0,
    };
    draw_text(img, style, &[city], city_box, BLACK, 1.0);
    for x in [w * 0.1, w * 0.9] {
        img.fill_circle(x, h * 0.15, h * 0.04, rgb(80, 80, 84), 0.9);
    }
    let main = TextBox {
        x0: w * 0.05,
        x1: w * 0.95,
        cy: h * 0.62,
        cap: h * 0.56,
    };
    if dot {
        let style = TextStyle {
            font: &fonts.sans_condensed_bold,
            gap: 0.42,
            tracking: 0.06,
            width: 1.0,
        };
        for g in draw_text(img, style, groups, main, BLACK, 1.0) {
            let r = main.cap * 0.06;
            img.fill_rect(g - r, main.cy - r, g + r, main.cy + r, BLACK, 1.0);
        }
    } else {
        draw_main_line(
            img,
            TextStyle::main_line(&fonts.sans_condensed_bold),
            groups,
            Separator::Dash,
            main,
            BLACK,
            None,
        );
    }
    img.stroke_round_rect(h * 0.02, h * 0.06, h * 0.035, BLACK);
}

fn render_mercosur(img: &mut RgbImage, fonts: &PlateFonts, groups: &[&str]) {
    let (w, h) = (img.width as f32, img.height as f32);
    img.vertical_gradient(rgb(252, 252, 252), rgb(238, 239, 240));
    let band_h = h * 0.24;
    img.fill_rect(0.0, 0.0, w, band_h, rgb(0, 56, 168), 1.0);
    let bx = TextBox {
        x0: w * 0.3,
        x1: w * 0.7,
        cy: band_h / 2.0,
        cap: h * 0.12,
    };
    let style = TextStyle {
        font: &fonts.din,
        gap: 0.0,
        tracking: 0.1,
        width: 1.0,
    };
    draw_text(img, style, &["BRASIL"], bx, WHITE, 1.0);
    // Flag at the right, Mercosur mark at the left.
    let (fx0, fx1, fy0, fy1) = (w * 0.855, w * 0.945, band_h * 0.2, band_h * 0.8);
    img.fill_rect(fx0, fy0, fx1, fy1, rgb(0, 150, 60), 1.0);
    let (cx, cy) = ((fx0 + fx1) / 2.0, (fy0 + fy1) / 2.0);
    let (rx, ry) = ((fx1 - fx0) * 0.42, (fy1 - fy0) * 0.42);
    img.fill_shape(fx0, fy0, fx1, fy1, rgb(250, 220, 0), 1.0, |x, y| {
        (1.0 - (x - cx).abs() / rx - (y - cy).abs() / ry) * rx.min(ry)
    });
    img.fill_circle(cx, cy, ry * 0.55, rgb(20, 40, 140), 1.0);
    for i in 0..4 {
        let a = i as f32 * 0.5 + 3.5;
        img.fill_circle(
            w * 0.08 + band_h * 0.3 * a.cos(),
            cy + band_h * 0.3 * a.sin(),
            h * 0.02,
            WHITE,
            1.0,
        );
    }
    let main = TextBox {
        x0: w * 0.06,
        x1: w * 0.94,
        cy: h * 0.62,
        cap: h * 0.54,
    };
    draw_main_line(
        img,
        TextStyle::main_line(&fonts.din),
        groups,
        Separator::Space,
        main,
        BLACK,
        None,
    );
    img.stroke_round_rect(h * 0.015, h * 0.06, h * 0.03, rgb(30, 30, 30));
}

/// Per-plate wear: uneven light, a little grime and grain.
fn weather(img: &mut RgbImage, rng: &mut fastrand::Rng) {
    let (w, h) = (img.width as f32, img.height as f32);
    let exposure = 0.82 + 0.2 * rng.f32();
    let tilt = (rng.f32() - 0.5) * 0.16; // one side a little darker
    let grime = rgb(120, 105, 80);
    for _ in 0..rng.usize(0..4) {
        let (cx, cy, r) = (rng.f32() * w, rng.f32() * h, (0.08 + 0.12 * rng.f32()) * h);
        // Soft-edged smudges: strongest in the middle, fading out.
        img.fill_shape(cx - r, cy - r, cx + r, cy + r, grime, 0.1, |x, y| {
            (1.0 - ((x - cx) * (x - cx) + (y - cy) * (y - cy)).sqrt() / r).max(0.0) - 0.5
        });
    }
    for (i, p) in img.pixels.iter_mut().enumerate() {
        let x = (i % img.width) as f32 / w - 0.5;
        let k = exposure * (1.0 + tilt * x);
        let grain = (rng.f32() - 0.5) * 5.0;
        *p = p.map(|c| (c * k + grain).clamp(0.0, 255.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> PlateFonts {
        match PlateFonts::load() {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn missing_font_is_reported_with_path_and_remedy() {
        let path = Path::new("/nonexistent/plate-font.ttf");
        let err = match PlateFont::load(path) {
            Err(e) => e,
            Ok(_) => panic!("loaded a missing font"),
        };
        assert!(matches!(err, FontError::Missing { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/plate-font.ttf") && msg.contains("scripts/setup"),
            "{msg}"
        );
    }

    #[test]
    fn non_font_and_unreadable_files_are_rejected() {
        let dir = std::env::temp_dir().join(format!("plate-font-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let junk = dir.join("junk.ttf");
        std::fs::write(&junk, b"not a font at all").expect("write junk");
        assert!(matches!(
            PlateFont::load(&junk),
            Err(FontError::Invalid { .. })
        ));
        // A directory exists but cannot be read as a file.
        assert!(matches!(
            PlateFont::load(&dir),
            Err(FontError::Unreadable { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn texts_are_capitals_and_digits_of_plausible_length() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut regions = std::collections::HashSet::new();
        for _ in 0..2000 {
            let spec = PlateSpec::random(&mut rng);
            assert!((4..=9).contains(&spec.text.len()), "{}", spec.text);
            assert!(
                spec.text
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            regions.insert(spec.region);
        }
        assert_eq!(regions.len(), 3);
    }

    #[test]
    fn mixed_text_replaces_us_lines_only() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..200 {
            let spec = PlateSpec::random(&mut rng);
            let before = spec.text.clone();
            let region = spec.region;
            let mixed = spec.with_mixed_text(&mut rng, COMMON_LETTERS, 6);
            if region == Region::Us {
                assert_eq!(mixed.text.len(), 6);
                assert_eq!(mixed.groups, vec![mixed.text.clone()]);
            } else {
                assert_eq!(mixed.text, before);
            }
        }
    }

    /// Twenty random US plates, each with `change` applied and a seed that gives both renders
    /// the same details (stickers, frames, weather); checks that `change` keeps the text and
    /// leaves other regions' plates as they are.
    fn changed_us_plates(
        seed: u64,
        change: fn(PlateSpec, &mut fastrand::Rng) -> PlateSpec,
    ) -> Vec<(PlateSpec, PlateSpec, u64)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut out = Vec::new();
        while out.len() < 20 {
            let spec = PlateSpec::random(&mut rng);
            let changed = change(spec.clone(), &mut rng);
            if spec.region != Region::Us {
                assert_eq!(format!("{changed:?}"), format!("{spec:?}"));
                continue;
            }
            assert_eq!(changed.text, spec.text);
            out.push((spec, changed, rng.u64(..)));
        }
        out
    }

    #[test]
    fn lettering_redraws_us_main_lines_and_keeps_the_text() {
        let plain_fonts = fonts();
        let lettered_fonts = match fonts().with_lettering_faces(LETTERING_FACE_PATHS) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        for (spec, lettered, seed) in changed_us_plates(7, PlateSpec::with_lettering) {
            let render = |spec: &PlateSpec, fonts: &PlateFonts| {
                spec.render(fonts, 300, &mut fastrand::Rng::with_seed(seed))
            };
            let plain = render(&spec, &lettered_fonts);
            // Without lettering faces loaded (the test cameras), lettering changes only the
            // size and spacing of Highway Gothic; with them, the face as well.
            let differ = |a: &RgbImage, b: &RgbImage| {
                let (w, h) = (a.width, a.height);
                let mut diff = 0.0;
                for y in h * 30 / 100..h * 75 / 100 {
                    for x in 0..w {
                        let (p, q) = (a.pixels[y * w + x], b.pixels[y * w + x]);
                        diff += (0..3).map(|c| (p[c] - q[c]).abs()).sum::<f32>();
                    }
                }
                diff / (w * h) as f32
            };
            assert_eq!(differ(&plain, &render(&spec, &plain_fonts)), 0.0);
            let resized = render(&lettered, &plain_fonts);
            assert!(differ(&plain, &resized) > 1.0);
            assert!(differ(&resized, &render(&lettered, &lettered_fonts)) > 1.0);
        }
        let missing = fonts().with_lettering_faces(&["/nonexistent/face.ttf"]);
        assert!(matches!(missing, Err(FontError::Missing { .. })));
    }

    #[test]
    fn separators_split_us_lines_in_two_and_keep_the_text() {
        let fonts = fonts();
        let mut rng = fastrand::Rng::with_seed(4);
        let mut marks = std::collections::HashSet::new();
        for _ in 0..200 {
            let spec = PlateSpec::random(&mut rng);
            let (before, region) = (spec.text.clone(), spec.region);
            let split = spec.with_separator(&mut rng);
            assert_eq!(split.text, before);
            if region == Region::Us {
                assert_eq!(split.groups.len(), 2, "{:?}", split.groups);
                assert_eq!(split.groups.concat(), before);
                assert!(
                    split.groups.iter().all(|g| g.len() >= 2),
                    "{:?}",
                    split.groups
                );
                if let Separator::Mark(mark) = split.separator {
                    marks.insert(format!("{mark:?}"));
                }
            }
            let img = split.render(&fonts, 200, &mut rng);
            assert_eq!(img.width, 200);
        }
        assert_eq!(marks.len(), Mark::ALL.len(), "{marks:?}");
    }

    #[test]
    fn side_print_inks_the_left_of_us_plates_and_leaves_the_text_alone() {
        let fonts = fonts();
        for (spec, with_side, seed) in changed_us_plates(5, PlateSpec::with_side_print) {
            let plain = spec.render(&fonts, 300, &mut fastrand::Rng::with_seed(seed));
            let side = with_side.render(&fonts, 300, &mut fastrand::Rng::with_seed(seed));
            // Where the print goes: the main line's height, 6 % to 17 % of the width.
            let (w, h) = (plain.width, plain.height);
            let mut diff = 0.0;
            let mut n = 0.0;
            for y in h * 32 / 100..h * 75 / 100 {
                for x in w * 6 / 100..w * 17 / 100 {
                    let (a, b) = (plain.pixels[y * w + x], side.pixels[y * w + x]);
                    diff += (0..3).map(|c| (a[c] - b[c]).abs()).sum::<f32>() / 3.0;
                    n += 1.0;
                }
            }
            assert!(diff / n > 10.0, "{}: {}", spec.text, diff / n);
        }
    }

    #[test]
    fn plates_render_at_any_size_and_text_is_narrowed_to_fit() {
        let fonts = fonts();
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..60 {
            let spec = PlateSpec::random(&mut rng);
            let width = [16, 48, 200, 390][i % 4];
            let img = spec.render(&fonts, width, &mut rng);
            assert_eq!(
                (img.width, img.pixels.len()),
                (width, img.width * img.height)
            );
            assert!(
                img.pixels
                    .iter()
                    .flatten()
                    .all(|c| (0.0..=255.0).contains(c))
            );
        }
        // A very long line is narrowed to fit its box.
        let mut img = RgbImage::new(100, 50, WHITE);
        let style = TextStyle {
            font: &fonts.highway,
            gap: 0.0,
            tracking: 0.06,
            width: 1.0,
        };
        let bx = TextBox {
            x0: 10.0,
            x1: 90.0,
            cy: 25.0,
            cap: 22.0,
        };
        draw_text(&mut img, style, &["WWWWWWWWW"], bx, BLACK, 1.0);
        for y in 0..50 {
            for x in (0..10).chain(90..100) {
                assert!(img.pixels[y * 100 + x][0] > 200.0, "ink at {x},{y}");
            }
        }
    }
}
