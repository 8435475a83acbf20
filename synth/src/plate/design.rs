use super::*;

/// What separates the printed groups of the main line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Separator {
    Space,
    Dash,
    /// German registration seals between the district and the letters.
    Seals,
    /// A mark between the groups, as many US and Canadian designs print one (a dot, a star, a
    /// state seal, New Hampshire's Old Man): it is not a character and must not be read.
    Mark(Mark),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mark {
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
    pub(super) const ALL: [Mark; 7] = [
        Mark::Dot,
        Mark::Square,
        Mark::Diamond,
        Mark::Star,
        Mark::Emblem,
        Mark::Sun,
        Mark::Seal,
    ];

    /// Group gap it needs, in cap heights.
    pub(super) fn gap(self) -> f32 {
        match self {
            Mark::Emblem | Mark::Sun | Mark::Seal => 0.85,
            Mark::Dot | Mark::Square | Mark::Diamond | Mark::Star => 0.45,
        }
    }

    pub(super) fn draw(self, img: &mut RgbImage, x: f32, cy: f32, cap: f32, ink: Rgb) {
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
pub(super) enum SidePrint {
    /// Small letters stacked on top of each other (a plate type: `R/T`, `TRK`, `C/I`).
    Stacked(String),
    /// A sponsor's or cause's badge: a dark box with two lines of small print.
    Badge(String, String),
}

/// Ornament behind a US main line (kept pale, so the text keeps its contrast).
#[derive(Clone, Copy, Debug)]
pub(super) enum Art {
    None,
    Mountains(Rgb),
    Sun(Rgb),
    Waves(Rgb),
    Star(Rgb),
}

/// A US state-like design.
#[derive(Debug)]
pub(super) struct UsStyle {
    pub(super) state: &'static str,
    pub(super) slogan: &'static str,
    pub(super) top: Rgb,
    pub(super) bottom: Rgb,
    pub(super) ink: Rgb,
    pub(super) state_ink: Rgb,
    pub(super) slogan_ink: Rgb,
    pub(super) top_band: Option<Rgb>,
    pub(super) bottom_band: Option<Rgb>,
    pub(super) art: Art,
    pub(super) formats: &'static [&'static str],
    /// Printed between the letter and digit groups of ABC1234-like formats.
    pub(super) separator: Option<Separator>,
}

pub(super) const US_STYLES: &[UsStyle] = &[
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

pub(super) const GERMAN_DISTRICTS: &[&str] = &[
    "B", "M", "K", "F", "S", "H", "D", "HH", "KA", "MZ", "WI", "DO", "BN", "HB", "GE", "WOB",
    "LER", "BOR", "FFB", "STA",
];
pub(super) const DUTCH_FORMATS: &[&str] =
    &["LL-DDD-L", "L-DDD-LL", "LLL-DD-L", "DD-LLL-D", "L-DD-LLL"];
pub(super) const BRAZIL_CITIES: &[&str] = &[
    "SAO PAULO - SP",
    "RIO DE JANEIRO - RJ",
    "CURITIBA - PR",
    "CAMPINAS - SP",
    "BELO HORIZONTE - MG",
    "PORTO ALEGRE - RS",
    "RECIFE - PE",
];
pub(super) const FRENCH_DEPARTMENTS: &[&str] = &["75", "69", "13", "33", "59", "31", "44", "67"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Design {
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
    pub(super) design: Design,
    /// The main line as printed, split where the design puts a space, dash or seals.
    pub(super) groups: Vec<String>,
    pub(super) separator: Separator,
    pub(super) side: Option<SidePrint>,
    pub(super) lettering: Option<Lettering>,
}

/// A US main line printed other than as its design prints it: in another face, wider or
/// narrower, more widely spaced, larger or smaller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Lettering {
    /// Which of the loaded lettering faces (taken modulo their number).
    pub(super) face: usize,
    pub(super) width: f32,
    /// Extra space between letters, in cap heights.
    pub(super) tracking: f32,
    /// Cap height against the design's.
    pub(super) cap: f32,
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

    pub(super) fn render_styled(
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
