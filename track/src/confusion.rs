//! The OCR confusion table: which characters a plate reader mistakes for one another, and the
//! text distances built on it. Shared by the hotlist matcher (fuzzy matching) and the tracker
//! (text similarity between reads).
//!
//! # The table
//!
//! Each group below is a set of characters that are pairwise confusable, chosen from the
//! mistakes plate OCR makes on real plates (thin strokes lost to blur, serifs, stencil fonts):
//!
//! | group | why |
//! |---|---|
//! | `0 O D Q` | round shapes; `D` and `Q` lose their stem or tail in blur |
//! | `1 I L T` | single vertical strokes; the foot of `L` and bar of `T` vanish at low resolution |
//! | `7 T` | a bar over a stroke |
//! | `1 7` | a stroke with a serif or flag |
//! | `8 B` | `B` with a rounded stem |
//! | `5 S` | |
//! | `2 Z` | |
//! | `6 G` | |
//! | `4 A` | an open `4` looks like `A` |
//! | `U V` | |
//! | `M N` | |
//! | `K X` | |
//! | `P R` | `R`'s leg lost to blur |
//! | `E F` | `E`'s foot lost to blur |
//!
//! Two characters are *confusable* when they are in one group. Groups that share a character
//! (`1 I L T`, `7 T`, `1 7`) are merged into one *confusion class* for indexing only: the
//! class key of a plate maps every character to its class, so all plates that could be confused
//! with one another share a key; a match found through the key is then checked pair by pair
//! against the groups, so `7` and `I` (same class, not in one group) are not confusable.

use custos_core::levenshtein;

/// The confusion groups documented in the module header, as strings of characters.
pub const CONFUSION_GROUPS: &[&str] = &[
    "0ODQ", "1ILT", "7T", "17", "8B", "5S", "2Z", "6G", "4A", "UV", "MN", "KX", "PR", "EF",
];

/// Number of plate symbols: digits then capital letters.
const SYMBOLS: usize = 36;

/// Index of a plate symbol (`0`–`9` → 0–9, `A`–`Z` → 10–35).
pub(crate) const fn symbol_index(c: char) -> Option<usize> {
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        'A'..='Z' => Some(c as usize - 'A' as usize + 10),
        _ => None,
    }
}

const fn symbol_char(i: usize) -> char {
    if i < 10 {
        (b'0' + i as u8) as char
    } else {
        (b'A' + (i - 10) as u8) as char
    }
}

/// `PAIRS[a][b]`: symbols `a` and `b` are in one confusion group.
static PAIRS: [[bool; SYMBOLS]; SYMBOLS] = build_pairs();
/// `CLASS[a]`: the smallest symbol index of `a`'s merged confusion class.
static CLASS: [u8; SYMBOLS] = build_classes();

const fn build_pairs() -> [[bool; SYMBOLS]; SYMBOLS] {
    let mut m = [[false; SYMBOLS]; SYMBOLS];
    let mut g = 0;
    while g < CONFUSION_GROUPS.len() {
        let bytes = CONFUSION_GROUPS[g].as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let mut j = 0;
            while j < bytes.len() {
                if let (Some(a), Some(b)) = (
                    symbol_index(bytes[i] as char),
                    symbol_index(bytes[j] as char),
                ) && a != b
                {
                    m[a][b] = true;
                }
                j += 1;
            }
            i += 1;
        }
        g += 1;
    }
    m
}

const fn build_classes() -> [u8; SYMBOLS] {
    let pairs = build_pairs();
    let mut class = [0u8; SYMBOLS];
    let mut i = 0;
    while i < SYMBOLS {
        class[i] = i as u8;
        i += 1;
    }
    // Merge to a fixed point: every pair takes the smaller class of the two, repeated until
    // nothing changes, which yields the transitive closure of the groups.
    let mut changed = true;
    while changed {
        changed = false;
        let mut a = 0;
        while a < SYMBOLS {
            let mut b = 0;
            while b < SYMBOLS {
                if pairs[a][b] && class[a] != class[b] {
                    let m = if class[a] < class[b] {
                        class[a]
                    } else {
                        class[b]
                    };
                    class[a] = m;
                    class[b] = m;
                    changed = true;
                }
                b += 1;
            }
            a += 1;
        }
    }
    class
}

/// Whether `a` and `b` are different characters in one confusion group.
pub fn confusable(a: char, b: char) -> bool {
    match (symbol_index(a), symbol_index(b)) {
        (Some(x), Some(y)) => PAIRS[x][y],
        _ => false,
    }
}

/// The confusion-class key of a normalised plate: every character replaced by its class's
/// representative (characters outside `0-9A-Z` are kept). Plates that differ only by
/// confusable characters have the same key.
pub fn class_key(plate: &str) -> String {
    plate
        .chars()
        .map(|c| match symbol_index(c) {
            Some(i) => symbol_char(CLASS[i] as usize),
            None => c,
        })
        .collect()
}

/// Text similarity in 0–1: one minus the edit distance over the longer length (1 for two empty
/// strings).
pub fn similarity(a: &str, b: &str) -> f32 {
    let longest = a.chars().count().max(b.chars().count());
    if longest == 0 {
        return 1.0;
    }
    1.0 - levenshtein(a, b) as f32 / longest as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_symmetric_pairs() {
        assert!(confusable('0', 'O') && confusable('O', '0'));
        assert!(confusable('D', 'Q'));
        assert!(confusable('8', 'B'));
        assert!(confusable('7', 'T'));
        assert!(
            !confusable('A', 'A'),
            "a character is not confused with itself"
        );
        assert!(
            !confusable('7', 'I'),
            "same merged class but no shared group"
        );
        assert!(!confusable('A', 'B'));
        assert!(!confusable('-', '0'));
    }

    #[test]
    fn class_key_merges_confusables_only() {
        assert_eq!(class_key("B0O"), class_key("8OD"));
        assert_eq!(class_key("1T7I"), class_key("7711"));
        assert_ne!(class_key("AB1"), class_key("AC1"));
    }

    #[test]
    fn distances() {
        assert_eq!(levenshtein("KITTEN", "SITTING"), 3);
        assert!((similarity("ABCD", "ABCE") - 0.75).abs() < 1e-6);
        assert_eq!(similarity("", ""), 1.0);
    }
}
