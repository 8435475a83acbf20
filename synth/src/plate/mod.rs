//! Licence plates for the synthetic test scene: random plate texts in US, EU and Brazilian
//! formats and their flat RGB images.
//!
//! A [`PlateSpec`] is one random plate (its ground-truth text plus the design it is printed in).
//! [`PlateSpec::render`] draws it once per vehicle pass; the scene then only warps that small
//! image into each frame, so glyphs are rasterised once per pass, never per frame.

use std::fmt;
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontArc, Glyph, PxScale, Rect, ScaleFont, point};

mod design;
mod fonts;
mod formats;
mod layout;
mod raster;
mod render;

pub use custos_core::Region;
pub use design::PlateSpec;
pub use fonts::*;
pub use formats::{ALL_LETTERS, COMMON_LETTERS};
pub use raster::RgbImage;

use self::{design::*, formats::*, layout::*, raster::*, render::*};

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
