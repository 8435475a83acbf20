//! Plate format priors: which shapes of plate a camera expects, used to re-rank a track's
//! candidate texts and to repair a voted text with the OCR's own alternatives.
//!
//! A pattern is a string of classes, one per character: `L` a letter, `D` a digit, `?` either.
//! Brazil's old plates are `LLLDDDD` (`ABC1234`), Mercosur plates `LLLDLDD` (`ABC1D23`).
//!
//! Priors never invent characters: a repair only takes a character that the OCR itself
//! proposed at that position (as the read or as an alternative) in enough frames, and a
//! re-rank only moves a candidate up when its score is close to the top one's.

use custos_core::Region;
use serde::{Deserialize, Serialize};

use crate::vote::{Ballot, LengthVotes, MAX_READ_LEN};

/// A set of built-in plate patterns, named in a camera's `[priors] regions`: a region's common
/// formats, or one of Brazil's two formats alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatternSet {
    /// Common US passenger formats. US formats vary by state, so this is a loose prior:
    /// `LLLDDDD`, `DLLLDDD`, `LLLDDD`, `DDDLLL`, `LLDDDDD`.
    Us,
    /// A few common European formats: `LLDDDLL` (France, Italy), `DDDDLLL` (Spain),
    /// `LLDDLLL` (United Kingdom). Other countries need their own `patterns`.
    Eu,
    /// Brazil, both formats: `br-old` and `mercosur`.
    Br,
    /// Brazil's old format `LLLDDDD`.
    BrOld,
    /// Mercosur (Brazil since 2018) `LLLDLDD`.
    Mercosur,
}

impl From<Region> for PatternSet {
    fn from(region: Region) -> Self {
        match region {
            Region::Us => PatternSet::Us,
            Region::Eu => PatternSet::Eu,
            Region::Br => PatternSet::Br,
        }
    }
}

impl PatternSet {
    /// The region's patterns, in the syntax of [`PlatePattern::parse`].
    pub fn patterns(self) -> &'static [&'static str] {
        match self {
            PatternSet::Us => &["LLLDDDD", "DLLLDDD", "LLLDDD", "DDDLLL", "LLDDDDD"],
            PatternSet::Eu => &["LLDDDLL", "DDDDLLL", "LLDDLLL"],
            PatternSet::Br => &["LLLDDDD", "LLLDLDD"],
            PatternSet::BrOld => &["LLLDDDD"],
            PatternSet::Mercosur => &["LLLDLDD"],
        }
    }
}

/// Format priors for one camera. Deserialised from the camera's configuration; every field has
/// a default, so `[priors]` may be empty (which turns the priors off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriorConfig {
    /// Regions whose built-in patterns apply (`us`, `eu`, `br`, `br-old`, `mercosur`).
    /// Default: none.
    pub regions: Vec<PatternSet>,
    /// Extra patterns: `L` letter, `D` digit, `?` either; 1–16 characters. Default: none.
    pub patterns: Vec<String>,
    /// A candidate that fits no pattern has its score multiplied by this when candidates are
    /// ranked, so a fitting candidate wins when its score is at least this fraction of the
    /// non-fitting one's. 0–1; 1 ranks by score alone. Default: 0.5.
    pub mismatch_penalty: f32,
    /// The smallest score (mean probability over the track's reads, 0–1) an OCR alternative
    /// needs at a position to be used to repair the voted text into a pattern. Default: 0.1.
    pub min_repair_score: f32,
}

impl Default for PriorConfig {
    fn default() -> Self {
        Self {
            regions: Vec::new(),
            patterns: Vec::new(),
            mismatch_penalty: 0.5,
            min_repair_score: 0.1,
        }
    }
}

/// A bad prior configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PriorError {
    #[error(
        "plate pattern {pattern:?} has {bad:?}; only L (letter), D (digit) and ? (either) are allowed"
    )]
    BadPatternChar { pattern: String, bad: char },
    #[error("plate pattern {pattern:?} must be 1–{max} characters long", max = MAX_READ_LEN)]
    BadPatternLength { pattern: String },
    #[error("{key} is {value}; it must be between 0 and 1")]
    OutOfRange { key: &'static str, value: f32 },
}

/// What a pattern position accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    Letter,
    Digit,
    Any,
}

impl CharClass {
    pub fn accepts(self, c: char) -> bool {
        match self {
            CharClass::Letter => c.is_ascii_uppercase(),
            CharClass::Digit => c.is_ascii_digit(),
            CharClass::Any => c.is_ascii_uppercase() || c.is_ascii_digit(),
        }
    }
}

/// One plate format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatePattern {
    source: String,
    classes: Vec<CharClass>,
}

impl PlatePattern {
    /// Parses `L`/`D`/`?` syntax, e.g. `LLLDLDD`.
    pub fn parse(pattern: &str) -> Result<Self, PriorError> {
        let classes = pattern
            .chars()
            .map(|c| match c {
                'L' => Ok(CharClass::Letter),
                'D' => Ok(CharClass::Digit),
                '?' => Ok(CharClass::Any),
                bad => Err(PriorError::BadPatternChar {
                    pattern: pattern.to_owned(),
                    bad,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if classes.is_empty() || classes.len() > MAX_READ_LEN {
            return Err(PriorError::BadPatternLength {
                pattern: pattern.to_owned(),
            });
        }
        Ok(Self {
            source: pattern.to_owned(),
            classes,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Whether `text` has this pattern's length and every character fits its class.
    pub fn matches(&self, text: &str) -> bool {
        text.chars().count() == self.classes.len()
            && text.chars().zip(&self.classes).all(|(c, k)| k.accepts(c))
    }

    /// The best text of this pattern's shape that the votes support: at every position the
    /// voted character when it fits, otherwise the best-scoring character of the right class
    /// whose score is at least `min_score`. `None` when the length differs or some position
    /// has no such character.
    pub fn repair(&self, votes: &LengthVotes, min_score: f32) -> Option<String> {
        if votes.len != self.classes.len() {
            return None;
        }
        votes
            .positions
            .iter()
            .zip(&self.classes)
            .map(|(slot, class)| {
                // `slot` is sorted best first, so the first fitting character is the best one.
                let (i, &(c, s)) = slot
                    .iter()
                    .enumerate()
                    .find(|(_, (c, _))| class.accepts(*c))?;
                (i == 0 || s >= min_score).then_some(c)
            })
            .collect()
    }
}

/// A candidate text for a pass.
#[derive(Clone, Debug, PartialEq)]
pub struct TextCandidate {
    pub text: String,
    /// The vote's score for this text: its length's share times the product of its
    /// per-character scores, 0–1. Not changed by the priors.
    pub score: f32,
    /// Whether the text fits one of the camera's patterns; `None` when no patterns are
    /// configured.
    pub fits_format: Option<bool>,
}

/// The outcome of a vote: the chosen text and its runners-up.
#[derive(Clone, Debug, PartialEq)]
pub struct VotedText {
    pub text: String,
    /// Score of each character of `text` (mean probability over the reads of its length).
    pub char_confidences: Vec<f32>,
    /// The chosen candidate's score (see [`TextCandidate::score`]).
    pub confidence: f32,
    /// Candidates best first after re-ranking; the first is `text`.
    pub candidates: Vec<TextCandidate>,
    /// Whether the priors changed the text from the plain vote's winner.
    pub prior_applied: bool,
}

/// A camera's compiled plate format priors. The default has no patterns and changes nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct FormatPriors {
    patterns: Vec<PlatePattern>,
    mismatch_penalty: f32,
    min_repair_score: f32,
}

impl Default for FormatPriors {
    fn default() -> Self {
        Self {
            patterns: Vec::new(),
            mismatch_penalty: 1.0,
            min_repair_score: 1.0,
        }
    }
}

impl FormatPriors {
    /// Checks the configuration and compiles its patterns (regions first, duplicates removed).
    pub fn new(config: &PriorConfig) -> Result<Self, PriorError> {
        for (key, value) in [
            ("mismatch_penalty", config.mismatch_penalty),
            ("min_repair_score", config.min_repair_score),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(PriorError::OutOfRange { key, value });
            }
        }
        let mut patterns: Vec<PlatePattern> = Vec::new();
        let sources = config
            .regions
            .iter()
            .flat_map(|r| r.patterns().iter().copied())
            .chain(config.patterns.iter().map(String::as_str));
        for source in sources {
            let p = PlatePattern::parse(source)?;
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        }
        Ok(Self {
            patterns,
            mismatch_penalty: config.mismatch_penalty,
            min_repair_score: config.min_repair_score,
        })
    }

    pub fn patterns(&self) -> &[PlatePattern] {
        &self.patterns
    }

    /// Whether `text` fits a pattern; `None` when there are no patterns.
    pub fn fits(&self, text: &str) -> Option<bool> {
        if self.patterns.is_empty() {
            None
        } else {
            Some(self.patterns.iter().any(|p| p.matches(text)))
        }
    }

    /// Sorts candidates best first: by score, with the score of a candidate that fits no
    /// pattern multiplied by the mismatch penalty. Sets `fits_format` on each. Stable for
    /// equal keys.
    pub fn rerank(&self, candidates: &mut [TextCandidate]) {
        for c in candidates.iter_mut() {
            c.fits_format = self.fits(&c.text);
        }
        let key = |c: &TextCandidate| {
            if c.fits_format == Some(false) {
                c.score * self.mismatch_penalty
            } else {
                c.score
            }
        };
        candidates.sort_by(|a, b| key(b).total_cmp(&key(a)));
    }

    /// Decides a ballot: the top texts of every length, plus the pattern repairs of each
    /// length's winner, re-ranked by the priors ([`FormatPriors::rerank`]), with the texts of
    /// the winning length first (another length's text only comes first when it fits a pattern
    /// and the winning length's best text does not); at most `max_candidates` candidates are
    /// kept.
    /// `None` when the ballot holds no reads.
    pub fn decide(&self, ballot: &Ballot, max_candidates: usize) -> Option<VotedText> {
        let lengths = ballot.results();
        let plain_winner = lengths.first()?.best().0;
        let n = max_candidates.max(1);
        let mut candidates: Vec<TextCandidate> = Vec::new();
        let mut push = |text: String, score: f32| {
            if !candidates.iter().any(|c| c.text == text) {
                candidates.push(TextCandidate {
                    text,
                    score,
                    fits_format: None,
                });
            }
        };
        for votes in &lengths {
            for (text, score) in votes.top_texts(n) {
                push(text, score);
            }
            let (best, _) = votes.best();
            if self.fits(&best) == Some(false) {
                for p in &self.patterns {
                    if let Some(text) = p.repair(votes, self.min_repair_score)
                        && let Some((_, score)) = votes.score(&text)
                    {
                        push(text, score);
                    }
                }
            }
        }
        // Sort by plain score first so that equal re-rank keys keep score order.
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.text.cmp(&b.text))
        });
        self.rerank(&mut candidates);
        // The length is voted first: texts of another length stay below the winning length's
        // texts, unless the winning length's best text fits no pattern and theirs does (a
        // spurious or dropped character that the priors can see).
        let winning_len = lengths[0].len;
        let winner_fits = self.fits(&plain_winner);
        let tier = |c: &TextCandidate| {
            let own_length = c.text.chars().count() == winning_len;
            let rescued = winner_fits == Some(false) && c.fits_format == Some(true);
            u8::from(!(own_length || rescued))
        };
        // Stable, so the re-rank order holds within a tier.
        candidates.sort_by_key(|c| tier(c));
        candidates.truncate(n);
        let top = candidates.first()?;
        let votes = lengths.iter().find(|v| v.len == top.text.chars().count())?;
        let (char_confidences, confidence) = votes.score(&top.text)?;
        Some(VotedText {
            text: top.text.clone(),
            prior_applied: top.text != plain_winner,
            char_confidences,
            confidence,
            candidates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vote::tests::read;

    fn priors(regions: &[PatternSet], patterns: &[&str]) -> FormatPriors {
        FormatPriors::new(&PriorConfig {
            regions: regions.to_vec(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            ..PriorConfig::default()
        })
        .unwrap()
    }

    /// A ballot where position `pos` reads `wrong` (0.6) with `right` as alternative (0.35) in
    /// every frame.
    fn ballot(text: &str, pos: usize, wrong: char, right: char) -> Ballot {
        let mut b = Ballot::new();
        for _ in 0..5 {
            b.add(&read(text, 0.95, &[(pos, wrong, 0.6, &[(right, 0.35)])]));
        }
        b
    }

    #[test]
    fn patterns_parse_and_match() {
        let p = PlatePattern::parse("LLLDLDD").unwrap();
        assert!(p.matches("ABC1D23"));
        assert!(!p.matches("ABC1234"));
        assert!(!p.matches("ABC1D2"));
        assert!(PlatePattern::parse("LLX").is_err());
        assert!(PlatePattern::parse("").is_err());
        let any = PlatePattern::parse("?D?L").unwrap();
        assert!(any.matches("A1BC") && any.matches("91BC") && any.matches("A19C"));
        assert!(!any.matches("A1B2"), "the last position must be a letter");
        assert!(!any.matches("A1B"));
    }

    #[test]
    fn br_old_repairs_letter_o_to_zero() {
        // Old Brazilian plates are LLLDDDD, so `O` at position 5 must be the digit `0`.
        let b = ballot("ABC1034", 4, 'O', '0');
        let plain = FormatPriors::default().decide(&b, 5).unwrap();
        assert_eq!(
            plain.text, "ABC1O34",
            "without priors the vote keeps the misread"
        );
        assert!(!plain.prior_applied);

        let v = priors(&[PatternSet::BrOld], &[]).decide(&b, 5).unwrap();
        assert_eq!(v.text, "ABC1034");
        assert!(v.prior_applied);
        assert_eq!(v.candidates[0].fits_format, Some(true));
        assert!((v.char_confidences[4] - 0.35).abs() < 1e-5);
        assert!(
            v.candidates
                .iter()
                .any(|c| c.text == "ABC1O34" && c.fits_format == Some(false))
        );
    }

    #[test]
    fn mercosur_keeps_a_letter_where_mercosur_has_one() {
        // `ABC1O34` is a valid Mercosur plate (LLLDLDD): with both Brazilian formats allowed
        // the read stands.
        let b = ballot("ABC1034", 4, 'O', '0');
        let v = priors(&[PatternSet::Br], &[]).decide(&b, 5).unwrap();
        assert_eq!(v.text, "ABC1O34");
        assert!(!v.prior_applied);
        // But position 4 is a digit in both formats.
        let b = ballot("ABC0234", 3, 'O', '0');
        assert_eq!(
            priors(&[PatternSet::Br], &[]).decide(&b, 5).unwrap().text,
            "ABC0234"
        );
    }

    #[test]
    fn the_voted_length_wins_over_a_higher_scoring_other_length() {
        let mut b = Ballot::new();
        // Four unsure reads of 7 characters outvote two sharp reads of 6 on length, though
        // the 6-character text has the higher score (0.39 × 0.94 against 0.61 × 0.15).
        for _ in 0..4 {
            b.add(&read(
                "ABC1234",
                0.9,
                &[(2, 'C', 0.5, &[]), (5, '3', 0.5, &[])],
            ));
        }
        for _ in 0..2 {
            b.add(&read("ABC234", 0.99, &[]));
        }
        let v = FormatPriors::default().decide(&b, 5).unwrap();
        assert_eq!(v.text, "ABC1234");
        let other = v.candidates.iter().find(|c| c.text == "ABC234").unwrap();
        assert!(other.score > v.confidence);
        // Unless the voted length fits no pattern and the other one does.
        let v = priors(&[], &["LLLDDD"]).decide(&b, 5).unwrap();
        assert_eq!(v.text, "ABC234");
        assert!(v.prior_applied);
    }

    #[test]
    fn implausible_alternatives_do_not_repair() {
        let mut b = Ballot::new();
        for _ in 0..5 {
            b.add(&read("ABC1O34", 0.95, &[(4, 'O', 0.9, &[('0', 0.05)])]));
        }
        let v = priors(&[PatternSet::BrOld], &[]).decide(&b, 5).unwrap();
        assert_eq!(v.text, "ABC1O34", "an alternative at 5 % is not plausible");
        assert_eq!(v.candidates[0].fits_format, Some(false));
    }

    #[test]
    fn rerank_prefers_fitting_candidates_only_when_close() {
        let p = priors(&[], &["LLLDDDD"]);
        let cand = |t: &str, s: f32| TextCandidate {
            text: t.into(),
            score: s,
            fits_format: None,
        };
        let mut close = vec![cand("ABC12X4", 0.5), cand("ABC1234", 0.3)];
        p.rerank(&mut close);
        assert_eq!(close[0].text, "ABC1234");
        let mut far = vec![cand("ABC12X4", 0.7), cand("ABC1234", 0.3)];
        p.rerank(&mut far);
        assert_eq!(far[0].text, "ABC12X4");
    }

    #[test]
    fn config_is_strict_and_defaults_are_documented() {
        let c: PriorConfig = toml::from_str("").unwrap();
        assert_eq!(c, PriorConfig::default());
        assert_eq!(c.mismatch_penalty, 0.5);
        let c: PriorConfig =
            toml::from_str("regions = [\"br\", \"us\"]\npatterns = [\"LLDDLL\"]").unwrap();
        assert_eq!(c.regions, [PatternSet::Br, PatternSet::Us]);
        assert!(toml::from_str::<PriorConfig>("region = [\"br\"]").is_err());
        assert!(toml::from_str::<PriorConfig>("regions = [\"mars\"]").is_err());
        let bad = PriorConfig {
            patterns: vec!["LLX".into()],
            ..PriorConfig::default()
        };
        assert!(matches!(
            FormatPriors::new(&bad),
            Err(PriorError::BadPatternChar { bad: 'X', .. })
        ));
        let bad = PriorConfig {
            mismatch_penalty: 1.5,
            ..PriorConfig::default()
        };
        assert!(matches!(
            FormatPriors::new(&bad),
            Err(PriorError::OutOfRange { .. })
        ));
    }
}
