use super::*;

/// Where a line of text goes: centred in `[x0, x1]`, its capitals `cap` px tall centred on `cy`.
#[derive(Clone, Copy, Debug)]
pub(super) struct TextBox {
    pub(super) x0: f32,
    pub(super) x1: f32,
    pub(super) cy: f32,
    pub(super) cap: f32,
}

/// How a line of glyph groups is laid out.
#[derive(Clone, Copy)]
pub(super) struct TextStyle<'a> {
    pub(super) font: &'a PlateFont,
    /// Extra space between groups, in cap heights.
    pub(super) gap: f32,
    /// Extra space between letters, in cap heights.
    pub(super) tracking: f32,
    /// Glyph width against the face's own (1 = as designed); spacing scales with it.
    pub(super) width: f32,
}

impl<'a> TextStyle<'a> {
    /// A main line in `font` as designed; the gap between groups is the separator's.
    pub(super) fn main_line(font: &'a PlateFont) -> Self {
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
pub(super) fn draw_text(
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

pub(super) struct Layout {
    pub(super) glyphs: Vec<Glyph>,
    pub(super) gaps: Vec<f32>,
    pub(super) ink: Option<Rect>,
}

/// Positions glyphs on a baseline at y = 0 from x = 0; `em` scales gaps and tracking.
pub(super) fn layout(style: TextStyle<'_>, groups: &[&str], scale: PxScale, em: f32) -> Layout {
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
