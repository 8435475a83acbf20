use super::*;

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
pub(super) struct PlateFont {
    pub(super) font: FontArc,
    /// Cap height in px per px of `PxScale::y`.
    pub(super) cap_ratio: f32,
}

impl PlateFont {
    pub(super) fn load(path: &Path) -> Result<Self, FontError> {
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
    pub(super) highway: PlateFont,
    pub(super) din: PlateFont,
    pub(super) sans_bold: PlateFont,
    pub(super) sans_condensed_bold: PlateFont,
    /// Other faces for US main lines ([`PlateSpec::with_lettering`]); none unless loaded.
    pub(super) lettering: Vec<PlateFont>,
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
