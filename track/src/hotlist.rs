//! Hotlist matching: which hotlist entries a read (or any of a pass's candidate texts) matches,
//! exactly or allowing for OCR mistakes.
//!
//! Three kinds of match, best first:
//!
//! - [`MatchKind::Exact`]: the normalised texts are equal.
//! - [`MatchKind::Confusable`]: same length, and every differing position is a pair of
//!   characters from one group of the confusion table ([`crate::CONFUSION_GROUPS`]), at most
//!   [`MatchConfig::max_confusable`] of them. These are the mistakes OCR actually makes, so they
//!   are cheap.
//! - [`MatchKind::EditDistance`]: at most [`MatchConfig::max_substitutions`] substitutions of
//!   any characters, plus one insertion or deletion when [`MatchConfig::allow_indel`] is set.
//!   These are guesses: with 100 000 entries of 7 characters, one free substitution matches a
//!   random read about once in 3 000 reads; a substitution plus an indel about once in 10, which
//!   is why `allow_indel` is off by default.
//!
//! # Indexes
//!
//! Built once per list change, looked up per read without scanning the entries:
//!
//! - exact: normalised plate → entries;
//! - confusable: confusion-class key ([`crate::class_key`]) → entries, then checked pair by pair;
//! - edit distance: the deletion neighbourhood — every variant of every plate with up to
//!   `d = max_substitutions + allow_indel` characters deleted, packed into a `u64` (base 37,
//!   plates up to 12 characters), in one sorted array. Two plates within those edits share a
//!   variant, so a query looks up its own variants (binary search) and checks the few entries
//!   found. With `d = 1` that is about 8 keys per plate (≈ 10 MB for 100 000 plates); `d = 2`
//!   about 29.

use std::collections::HashMap;

use custos_core::normalize_plate;
use serde::{Deserialize, Serialize};

use crate::confusion::{class_key, confusable, symbol_index};
use crate::prior::TextCandidate;

/// Plates longer than this are matched exactly and by confusion class only, since their
/// deletion variants do not fit the packed key. No plate format is this long.
const MAX_FUZZY_LEN: usize = 12;
/// Hotlist plates longer than this are rejected.
pub const MAX_PLATE_LEN: usize = 16;
/// List ids: 1–64 characters of `A-Z a-z 0-9 - _ .`, like camera ids.
const MAX_LIST_LEN: usize = 64;

/// One hotlist entry as the matcher holds it: a normalised plate to watch for, its list and
/// whether hits are covert (the stored record is `custos_store::records::HotlistEntry`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedPlate {
    /// Normalised plate text (see [`custos_core::normalize_plate`]).
    pub plate: String,
    /// The list this entry belongs to (e.g. `stolen`, `amber-2026-11`).
    pub list: String,
    /// Covert entries are matched like any other; the layer that shows hits hides them from
    /// roles not permitted to see covert lists.
    pub covert: bool,
    /// Free text for the operator (reason, case number).
    pub note: String,
}

/// Why an entry is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum EntryError {
    #[error("plate is empty")]
    EmptyPlate,
    #[error("plate contains {0:?}; only letters, digits, spaces, '-' and '.' are allowed")]
    BadPlateChar(char),
    #[error("plate has {len} characters; at most {max} are allowed", max = MAX_PLATE_LEN)]
    PlateTooLong { len: usize },
    #[error("list id is empty")]
    EmptyList,
    #[error("list id {0:?} must be at most 64 characters of letters, digits, '-', '_' and '.'")]
    BadList(String),
}

impl WatchedPlate {
    /// A checked entry: the plate is normalised (separators dropped, upper-cased) and must hold
    /// 1–16 letters and digits and nothing else but spaces, `-` and `.` (so that `ÄB12` is not
    /// silently read as `B12`); the list id is trimmed and checked.
    pub fn new(
        plate: &str,
        list: &str,
        covert: bool,
        note: impl Into<String>,
    ) -> Result<Self, EntryError> {
        if let Some(bad) = plate
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.')))
        {
            return Err(EntryError::BadPlateChar(bad));
        }
        let normalized = normalize_plate(plate);
        if normalized.is_empty() {
            return Err(EntryError::EmptyPlate);
        }
        if normalized.len() > MAX_PLATE_LEN {
            return Err(EntryError::PlateTooLong {
                len: normalized.len(),
            });
        }
        let list = list.trim();
        if list.is_empty() {
            return Err(EntryError::EmptyList);
        }
        if list.len() > MAX_LIST_LEN
            || !list
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(EntryError::BadList(list.to_owned()));
        }
        Ok(Self {
            plate: normalized,
            list: list.to_owned(),
            covert,
            note: note.into(),
        })
    }
}

/// Fuzzy matching settings. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Most confusable substitutions in a [`MatchKind::Confusable`] match; 0 turns confusable
    /// matching off. Default: 2.
    pub max_confusable: usize,
    /// Most substitutions (any characters) in a [`MatchKind::EditDistance`] match. Default: 1.
    pub max_substitutions: usize,
    /// Also allow one inserted or deleted character in an edit-distance match. Default: false
    /// (see the module documentation for the false-match rate).
    pub allow_indel: bool,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            max_confusable: 2,
            max_substitutions: 1,
            allow_indel: false,
        }
    }
}

/// A bad match configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MatchConfigError {
    #[error(
        "max_substitutions is {0}; at most 2 are allowed (each one multiplies the index size and the false matches)"
    )]
    TooManySubstitutions(usize),
}

/// How a text matched an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchKind {
    Exact,
    /// Same length; the read differs from the entry only at these positions (0-based), each
    /// by a confusable pair.
    Confusable {
        positions: Vec<usize>,
    },
    /// `n` edits: substitutions plus at most one insertion or deletion.
    EditDistance {
        n: usize,
    },
}

impl MatchKind {
    /// Orders kinds best first: exact, then confusable by count, then edit distance by count.
    fn rank(&self) -> (u8, usize) {
        match self {
            MatchKind::Exact => (0, 0),
            MatchKind::Confusable { positions } => (1, positions.len()),
            MatchKind::EditDistance { n } => (2, *n),
        }
    }
}

/// One entry matched by a read.
#[derive(Clone, Debug, PartialEq)]
pub struct HotlistMatch<'a> {
    pub entry: &'a WatchedPlate,
    /// Index of the entry in the list given to [`Matcher::new`].
    pub entry_index: usize,
    pub kind: MatchKind,
    /// The (normalised) text that matched.
    pub text: String,
    /// Rank of that text among the texts tried (0: the pass's chosen text).
    pub candidate_rank: usize,
}

/// Matches reads against a set of hotlist entries (from any number of lists). Immutable once
/// built: on a list change build a new one and swap it in.
#[derive(Debug, Clone)]
pub struct Matcher {
    entries: Vec<WatchedPlate>,
    config: MatchConfig,
    exact: HashMap<String, Vec<u32>>,
    by_class: HashMap<String, Vec<u32>>,
    /// Sorted deletion-variant keys and, in the same order, their entries.
    variant_keys: Vec<u64>,
    variant_entries: Vec<u32>,
    depth: usize,
}

/// Packs a string of `0-9A-Z` (at most 12) into a u64, base 37 with digits 1–36 so that
/// different strings (of any lengths) give different keys.
fn pack(chars: &[usize]) -> u64 {
    chars.iter().fold(0u64, |k, &s| k * 37 + s as u64 + 1)
}

/// All keys of `chars` with up to `depth` characters deleted, sorted and deduplicated.
fn deletion_keys(chars: &[usize], depth: usize) -> Vec<u64> {
    fn walk(chars: &[usize], from: usize, depth: usize, out: &mut Vec<u64>) {
        out.push(pack(chars));
        if depth == 0 {
            return;
        }
        // Deleting positions in increasing order (from `from` on) visits each set once.
        for i in from..chars.len() {
            let mut shorter = chars.to_vec();
            shorter.remove(i);
            walk(&shorter, i, depth - 1, out);
        }
    }
    let mut out = Vec::new();
    walk(chars, 0, depth, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// Symbols of a plate, or `None` when it has other characters or is too long to pack.
fn symbols(plate: &str) -> Option<Vec<usize>> {
    if plate.len() > MAX_FUZZY_LEN {
        return None;
    }
    plate.chars().map(symbol_index).collect()
}

/// Substitutions between equal-length strings.
fn hamming(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

impl Matcher {
    /// Builds the indexes. Entries' plates are normalised again here, since the fields are
    /// public; an entry whose plate is empty after that never matches.
    pub fn new(entries: Vec<WatchedPlate>, config: MatchConfig) -> Result<Self, MatchConfigError> {
        if config.max_substitutions > 2 {
            return Err(MatchConfigError::TooManySubstitutions(
                config.max_substitutions,
            ));
        }
        let depth = config.max_substitutions + usize::from(config.allow_indel);
        let mut exact: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_class: HashMap<String, Vec<u32>> = HashMap::new();
        let mut variants: Vec<(u64, u32)> = Vec::new();
        let mut entries = entries;
        for (i, e) in entries.iter_mut().enumerate() {
            e.plate = normalize_plate(&e.plate);
            if e.plate.is_empty() {
                continue;
            }
            let id = i as u32;
            exact.entry(e.plate.clone()).or_default().push(id);
            if config.max_confusable > 0 {
                by_class.entry(class_key(&e.plate)).or_default().push(id);
            }
            if depth > 0
                && let Some(s) = symbols(&e.plate)
            {
                variants.extend(deletion_keys(&s, depth).into_iter().map(|k| (k, id)));
            }
        }
        variants.sort_unstable();
        let (variant_keys, variant_entries) = variants.into_iter().unzip();
        Ok(Self {
            entries,
            config,
            exact,
            by_class,
            variant_keys,
            variant_entries,
            depth,
        })
    }

    pub fn entries(&self) -> &[WatchedPlate] {
        &self.entries
    }

    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// The entries `text` matches, each once with its best kind, best first (then by entry
    /// index).
    pub fn match_text(&self, text: &str) -> Vec<HotlistMatch<'_>> {
        self.match_texts([text])
    }

    /// The entries any of `texts` matches (a pass's chosen text first, then its alternatives),
    /// each entry once: with its best kind, and among equal kinds the earliest text. Best
    /// first.
    pub fn match_texts<'t>(
        &self,
        texts: impl IntoIterator<Item = &'t str>,
    ) -> Vec<HotlistMatch<'_>> {
        let mut best: HashMap<u32, HotlistMatch<'_>> = HashMap::new();
        for (rank, raw) in texts.into_iter().enumerate() {
            let text = normalize_plate(raw);
            if text.is_empty() {
                continue;
            }
            for (id, kind) in self.match_one(&text) {
                let candidate = HotlistMatch {
                    entry: &self.entries[id as usize],
                    entry_index: id as usize,
                    kind,
                    text: text.clone(),
                    candidate_rank: rank,
                };
                match best.get(&id) {
                    Some(old) if old.kind.rank() <= candidate.kind.rank() => {}
                    _ => {
                        best.insert(id, candidate);
                    }
                }
            }
        }
        let mut out: Vec<_> = best.into_values().collect();
        out.sort_by(|a, b| {
            a.kind
                .rank()
                .cmp(&b.kind.rank())
                .then(a.candidate_rank.cmp(&b.candidate_rank))
                .then(a.entry_index.cmp(&b.entry_index))
        });
        out
    }

    /// Matches a pass's candidate texts (see [`Matcher::match_texts`]).
    pub fn match_candidates(&self, candidates: &[TextCandidate]) -> Vec<HotlistMatch<'_>> {
        self.match_texts(candidates.iter().map(|c| c.text.as_str()))
    }

    /// All matches of one normalised text, one per entry with its best kind.
    fn match_one(&self, text: &str) -> Vec<(u32, MatchKind)> {
        let mut found: Vec<(u32, MatchKind)> = Vec::new();
        if let Some(ids) = self.exact.get(text) {
            found.extend(ids.iter().map(|&id| (id, MatchKind::Exact)));
        }
        if self.config.max_confusable > 0
            && let Some(ids) = self.by_class.get(&class_key(text))
        {
            for &id in ids {
                let plate = &self.entries[id as usize].plate;
                if let Some(positions) = self.confusable_positions(text, plate) {
                    found.push((id, MatchKind::Confusable { positions }));
                }
            }
        }
        if self.depth > 0
            && let Some(s) = symbols(text)
        {
            let mut ids: Vec<u32> = Vec::new();
            for key in deletion_keys(&s, self.depth) {
                let start = self.variant_keys.partition_point(|&k| k < key);
                let end = start + self.variant_keys[start..].partition_point(|&k| k == key);
                ids.extend_from_slice(&self.variant_entries[start..end]);
            }
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let plate = &self.entries[id as usize].plate;
                if let Some(n) = self.edit_distance(text, plate) {
                    found.push((id, MatchKind::EditDistance { n }));
                }
            }
        }
        // One per entry, best kind: exact and confusable were pushed first.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.rank().cmp(&b.1.rank())));
        found.dedup_by_key(|(id, _)| *id);
        found
    }

    /// The differing positions when `text` and `plate` differ only by 1…max confusable pairs.
    fn confusable_positions(&self, text: &str, plate: &str) -> Option<Vec<usize>> {
        if text.len() != plate.len() {
            return None;
        }
        let mut positions = Vec::new();
        for (i, (a, b)) in text.chars().zip(plate.chars()).enumerate() {
            if a != b {
                if !confusable(a, b) || positions.len() == self.config.max_confusable {
                    return None;
                }
                positions.push(i);
            }
        }
        (!positions.is_empty()).then_some(positions)
    }

    /// Edits from `text` to `plate` within the configured limits (at least 1), if any.
    fn edit_distance(&self, text: &str, plate: &str) -> Option<usize> {
        let (a, b) = (text.as_bytes(), plate.as_bytes());
        let max = self.config.max_substitutions;
        let n = if a.len() == b.len() {
            hamming(a, b)
        } else if self.config.allow_indel && a.len().abs_diff(b.len()) == 1 {
            let (long, short) = if a.len() > b.len() { (a, b) } else { (b, a) };
            // One deletion from the longer string, at the position that leaves the fewest
            // substitutions.
            let subs = (0..long.len())
                .map(|i| {
                    let rest: Vec<u8> = long[..i].iter().chain(&long[i + 1..]).copied().collect();
                    hamming(&rest, short)
                })
                .min()?;
            if subs > max {
                return None;
            }
            return Some(subs + 1);
        } else {
            return None;
        };
        (n >= 1 && n <= max).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(plate: &str, list: &str) -> WatchedPlate {
        WatchedPlate::new(plate, list, false, "").unwrap()
    }

    fn matcher(config: MatchConfig) -> Matcher {
        Matcher::new(
            vec![
                entry("ABC-1234", "stolen"),
                entry("XYZ9876", "wanted"),
                entry("B0B123", "stolen"),
                entry("abc 1234", "amber"),
            ],
            config,
        )
        .unwrap()
    }

    fn kinds(m: &[HotlistMatch<'_>]) -> Vec<(String, MatchKind)> {
        m.iter()
            .map(|x| (x.entry.plate.clone(), x.kind.clone()))
            .collect()
    }

    #[test]
    fn exact_matches_every_list() {
        let m = matcher(MatchConfig::default());
        let hits = m.match_text("abc1234");
        assert_eq!(hits.len(), 2, "one entry per list");
        assert!(hits.iter().all(|h| h.kind == MatchKind::Exact));
        assert_eq!(hits[0].entry.list, "stolen");
        assert_eq!(hits[1].entry.list, "amber");
    }

    #[test]
    fn confusable_matches_report_positions() {
        let m = matcher(MatchConfig::default());
        // 8 for B and O for 0: the classic pair of OCR mistakes.
        let hits = m.match_text("8OB123");
        assert_eq!(
            kinds(&hits),
            [(
                "B0B123".into(),
                MatchKind::Confusable {
                    positions: vec![0, 1]
                }
            )]
        );
        // Three confusions are more than the default two.
        assert!(m.match_text("8O8123").is_empty());
    }

    #[test]
    fn edit_distance_matches_and_non_matches() {
        let m = matcher(MatchConfig::default());
        // `X` for `3` is not a confusion: one free substitution.
        let hits = m.match_text("XYZ9X76");
        assert_eq!(
            kinds(&hits),
            [("XYZ9876".into(), MatchKind::EditDistance { n: 1 })]
        );
        // Two free substitutions: no match.
        assert!(m.match_text("XYZ9XX6").is_empty());
        // A dropped character needs `allow_indel`.
        assert!(m.match_text("XYZ976").is_empty());
        let m = matcher(MatchConfig {
            allow_indel: true,
            ..MatchConfig::default()
        });
        assert_eq!(
            kinds(&m.match_text("XYZ976")),
            [("XYZ9876".into(), MatchKind::EditDistance { n: 1 })]
        );
        assert_eq!(
            kinds(&m.match_text("XYZ9K876")),
            [("XYZ9876".into(), MatchKind::EditDistance { n: 1 })]
        );
        assert_eq!(
            kinds(&m.match_text("XYQ976")),
            [("XYZ9876".into(), MatchKind::EditDistance { n: 2 })]
        );
        assert!(m.match_text("QQQ976").is_empty());
        assert!(m.match_text("").is_empty());
        assert!(m.match_text("NOPE42").is_empty());
    }

    #[test]
    fn alternatives_are_matched_too_and_best_kind_wins() {
        let m = matcher(MatchConfig::default());
        let hits = m.match_texts(["XYZ9X76", "QQQ0000", "XYZ9876"]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, MatchKind::Exact);
        assert_eq!(hits[0].candidate_rank, 2);
        let cands = vec![
            TextCandidate {
                text: "NOPE42".into(),
                score: 0.5,
                fits_format: None,
            },
            TextCandidate {
                text: "B0B12E".into(),
                score: 0.2,
                fits_format: None,
            },
        ];
        let hits = m.match_candidates(&cands);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, MatchKind::EditDistance { n: 1 });
        assert_eq!(hits[0].text, "B0B12E");
        assert_eq!(hits[0].candidate_rank, 1);
    }

    #[test]
    fn fuzzy_matching_can_be_turned_off() {
        let m = matcher(MatchConfig {
            max_confusable: 0,
            max_substitutions: 0,
            allow_indel: false,
        });
        assert!(m.match_text("8OB123").is_empty());
        assert!(m.match_text("XYZ9X76").is_empty());
        assert_eq!(m.match_text("XYZ9876").len(), 1);
        assert!(
            Matcher::new(
                Vec::new(),
                MatchConfig {
                    max_substitutions: 3,
                    ..MatchConfig::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn entries_are_checked() {
        assert_eq!(entry(" ab-12.cd ", " stolen ").plate, "AB12CD");
        assert_eq!(
            WatchedPlate::new("ÄB12", "l", false, ""),
            Err(EntryError::BadPlateChar('Ä'))
        );
        assert_eq!(
            WatchedPlate::new(" - ", "l", false, ""),
            Err(EntryError::EmptyPlate)
        );
        assert!(matches!(
            WatchedPlate::new(&"A".repeat(17), "l", false, ""),
            Err(EntryError::PlateTooLong { len: 17 })
        ));
        assert_eq!(
            WatchedPlate::new("AB1", " ", false, ""),
            Err(EntryError::EmptyList)
        );
        assert!(matches!(
            WatchedPlate::new("AB1", "a list", false, ""),
            Err(EntryError::BadList(_))
        ));
    }

    #[test]
    fn large_lists_match_through_the_indexes() {
        // 100 000 distinct 7-character plates from a fixed pseudo-random sequence.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut plates = std::collections::BTreeSet::new();
        while plates.len() < 100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p: String = (0..7)
                .map(|i| {
                    let s = ((x >> (i * 6)) % 36) as usize;
                    if s < 10 {
                        (b'0' + s as u8) as char
                    } else {
                        (b'A' + (s - 10) as u8) as char
                    }
                })
                .collect();
            plates.insert(p);
        }
        let plates: Vec<String> = plates.into_iter().collect();
        let entries = plates.iter().map(|p| entry(p, "big")).collect();
        let m = Matcher::new(
            entries,
            MatchConfig {
                allow_indel: true,
                ..MatchConfig::default()
            },
        )
        .unwrap();
        let target = &plates[12_345];
        let hits = m.match_text(target);
        assert!(
            hits.iter()
                .any(|h| h.entry_index == 12_345 && h.kind == MatchKind::Exact)
        );
        // Drop a character: found by the deletion index.
        let dropped = format!("{}{}", &target[..3], &target[4..]);
        let hits = m.match_text(&dropped);
        assert!(
            hits.iter()
                .any(|h| h.entry_index == 12_345 && h.kind == MatchKind::EditDistance { n: 1 })
        );
    }
}
