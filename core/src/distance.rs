//! Edit distance: the one Levenshtein distance the tracker, the hotlist matcher, the store's
//! fuzzy search and the evaluations share.

/// Levenshtein distance between two sequences (insertions, deletions, substitutions).
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Levenshtein distance between two strings, in characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    edit_distance(&a, &b)
}

/// Whether the edit distance is at most `k`: the same distance, with a length check and an exit
/// as soon as a whole row exceeds `k` (the store's fuzzy search runs it on every plate).
pub fn within_edits<T: PartialEq>(a: &[T], b: &[T], k: usize) -> bool {
    if a.len().abs_diff(b.len()) > k {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > k {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(levenshtein("ABC1234", "ABC1234"), 0);
        assert_eq!(levenshtein("ABC1234", "ABC1284"), 1);
        assert_eq!(levenshtein("ABC1234", "ABC234"), 1);
        assert_eq!(levenshtein("", "AB"), 2);
        assert_eq!(edit_distance(b"ABC123", b"ABC12"), 1);
    }

    #[test]
    fn bounded_distance_agrees_with_the_full_one() {
        assert!(within_edits(b"AB12CD", b"AB12CD", 0));
        assert!(within_edits(b"AB12CD", b"A812CD", 1));
        assert!(within_edits(b"AB12CD", b"AB1CD", 1));
        assert!(within_edits(b"AB12CD", b"XB12CDE", 2));
        assert!(!within_edits(b"AB12CD", b"XY12CDE", 2));
        assert!(!within_edits(b"AB", b"ABCDE", 2));
        let words: [&[u8]; 6] = [b"", b"A", b"AB12CD", b"BA21DC", b"XY12CDE", b"AB1"];
        for a in words {
            for b in words {
                for k in 0..4 {
                    assert_eq!(
                        within_edits(a, b, k),
                        edit_distance(a, b) <= k,
                        "{a:?} {b:?} {k}"
                    );
                }
            }
        }
    }
}
