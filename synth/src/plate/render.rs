use super::*;

pub(super) fn count_runs(text: &str) -> usize {
    let b = text.as_bytes();
    1 + b
        .windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
        .count()
}

/// Draws the main line in `face` (its gap is set here, from the separator) with its
/// separators.
pub(super) fn draw_main_line(
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

pub(super) fn render_us(
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
pub(super) fn draw_side_print(
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
pub(super) fn star_sdf(x: f32, y: f32, r: f32) -> f32 {
    let angle = x.atan2(-y);
    let sector = std::f32::consts::TAU / 5.0;
    let a = (angle.rem_euclid(sector) - sector / 2.0).abs() / (sector / 2.0);
    // Radius of the outline along this direction: inner 0.4 r between the points.
    let edge = r * (0.4 + 0.6 * (1.0 - a).powi(2));
    edge - x.hypot(y)
}

pub(super) fn render_eu(
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
pub(super) fn draw_eu_band(
    img: &mut RgbImage,
    fonts: &PlateFonts,
    x0: f32,
    band: f32,
    country: &str,
) {
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

pub(super) fn render_brazil_old(
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

pub(super) fn render_mercosur(img: &mut RgbImage, fonts: &PlateFonts, groups: &[&str]) {
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
pub(super) fn weather(img: &mut RgbImage, rng: &mut fastrand::Rng) {
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
