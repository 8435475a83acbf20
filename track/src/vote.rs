//! Per-character voting over the reads of one track.
//!
//! Reads of one plate can disagree in length (a dropped or doubled character) as well as in
//! characters, and characters can only be compared position by position between reads of the
//! same length. So the vote has two steps:
//!
//! 1. **Length.** Each read votes for its length with the geometric mean of its character
//!    confidences (not the product, which would favour short reads).
//! 2. **Characters.** Among the reads of each length, every position collects the read's
//!    character with its probability *and* the read's alternatives with theirs. A character's
//!    score at a position is the mean of its probability over the reads of that length, so a
//!    confident minority can outvote an unsure majority, and a character the model saw as a
//!    close second in many frames counts too.
//!
//! The accumulator keeps only these sums, never the reads, so a track's memory stays bounded
//! however long a vehicle stays in view.

use custos_core::PlateText;

/// Reads longer than this are not voted: no plate format is this long, so such a read is a
/// detector or OCR failure, and the cap bounds the accumulator's size.
pub const MAX_READ_LEN: usize = 16;

/// Sums for the reads of one length.
#[derive(Clone, Debug)]
struct Bucket {
    len: usize,
    /// Sum of the length votes (geometric-mean confidences) of the reads of this length.
    weight: f32,
    reads: u32,
    /// Per position, summed probability per character.
    positions: Vec<Vec<(char, f32)>>,
}

/// Accumulates the reads of one track; see the module documentation for the rule.
#[derive(Clone, Debug, Default)]
pub struct Ballot {
    buckets: Vec<Bucket>,
    reads: u32,
}

/// The voting result for the reads of one length.
#[derive(Clone, Debug, PartialEq)]
pub struct LengthVotes {
    pub len: usize,
    /// This length's share of all the length votes, 0–1.
    pub share: f32,
    /// Number of reads of this length.
    pub reads: u32,
    /// Per position, the characters voted for with their mean probability over the reads of
    /// this length (0–1), best first.
    pub positions: Vec<Vec<(char, f32)>>,
}

impl Ballot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one read. Returns false (and counts nothing) for an empty read or one longer than
    /// [`MAX_READ_LEN`].
    pub fn add(&mut self, read: &PlateText) -> bool {
        // OCR fills `chars`; a read built from text alone gets the plate confidence spread
        // evenly, so it still votes.
        let synthesized;
        let chars: &[custos_core::CharRead] = if read.chars.is_empty() {
            let n = read.text.chars().count();
            let per_char = if n == 0 {
                0.0
            } else {
                read.confidence.clamp(0.0, 1.0).powf(1.0 / n as f32)
            };
            synthesized = read
                .text
                .chars()
                .map(|ch| custos_core::CharRead {
                    ch,
                    confidence: per_char,
                    alternatives: Vec::new(),
                })
                .collect::<Vec<_>>();
            &synthesized
        } else {
            &read.chars
        };
        let len = chars.len();
        if len == 0 || len > MAX_READ_LEN {
            return false;
        }
        // Probabilities from outside are clamped (and NaN treated as 0) so one bad value
        // cannot dominate or poison the sums.
        let clean = |p: f32| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let log_sum: f32 = chars
            .iter()
            .map(|c| clean(c.confidence).max(1e-6).ln())
            .sum();
        let length_vote = (log_sum / len as f32).exp();

        let bucket = match self.buckets.iter_mut().position(|b| b.len == len) {
            Some(i) => &mut self.buckets[i],
            None => {
                self.buckets.push(Bucket {
                    len,
                    weight: 0.0,
                    reads: 0,
                    positions: vec![Vec::new(); len],
                });
                self.buckets.last_mut().expect("just pushed")
            }
        };
        bucket.weight += length_vote;
        bucket.reads += 1;
        for (slot, c) in bucket.positions.iter_mut().zip(chars) {
            add_score(slot, c.ch, clean(c.confidence));
            for &(alt, p) in &c.alternatives {
                if alt != c.ch {
                    add_score(slot, alt, clean(p));
                }
            }
        }
        self.reads += 1;
        true
    }

    /// Number of reads voted so far.
    pub fn reads(&self) -> u32 {
        self.reads
    }

    /// The vote per length, the winning length first (ties: the longer read first, since
    /// dropped characters are a more common OCR failure than invented ones).
    pub fn results(&self) -> Vec<LengthVotes> {
        let total: f32 = self.buckets.iter().map(|b| b.weight).sum();
        let mut out: Vec<LengthVotes> = self
            .buckets
            .iter()
            .map(|b| {
                let n = b.reads.max(1) as f32;
                let positions = b
                    .positions
                    .iter()
                    .map(|slot| {
                        let mut v: Vec<(char, f32)> =
                            slot.iter().map(|&(c, s)| (c, s / n)).collect();
                        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        v
                    })
                    .collect();
                LengthVotes {
                    len: b.len,
                    share: if total > 0.0 {
                        b.weight / total
                    } else {
                        // Every read had zero confidence: fall back to counting reads.
                        b.reads as f32 / self.reads.max(1) as f32
                    },
                    reads: b.reads,
                    positions,
                }
            })
            .collect();
        out.sort_by(|a, b| b.share.total_cmp(&a.share).then(b.len.cmp(&a.len)));
        out
    }
}

fn add_score(slot: &mut Vec<(char, f32)>, ch: char, p: f32) {
    match slot.iter_mut().find(|(c, _)| *c == ch) {
        Some((_, s)) => *s += p,
        None => slot.push((ch, p)),
    }
}

impl LengthVotes {
    /// The winning character at every position with its score.
    pub fn best(&self) -> (String, Vec<f32>) {
        self.positions
            .iter()
            .map(|slot| slot.first().copied().unwrap_or(('?', 0.0)))
            .unzip()
    }

    /// The score of character `ch` at `pos` (0 when nobody voted for it).
    pub fn char_score(&self, pos: usize, ch: char) -> f32 {
        self.positions
            .get(pos)
            .and_then(|slot| slot.iter().find(|(c, _)| *c == ch))
            .map_or(0.0, |&(_, s)| s)
    }

    /// The per-character scores of `text` and its whole score (this length's share times the
    /// product of the character scores); `None` when `text` is not of this length.
    pub fn score(&self, text: &str) -> Option<(Vec<f32>, f32)> {
        if text.chars().count() != self.len {
            return None;
        }
        let chars: Vec<f32> = text
            .chars()
            .enumerate()
            .map(|(i, c)| self.char_score(i, c).min(1.0))
            .collect();
        let whole = self.share * chars.iter().product::<f32>();
        Some((chars, whole))
    }

    /// The `n` texts of this length with the highest whole score, best first.
    ///
    /// Positions are independent, so a beam of width `n` is exact: a prefix outside the best
    /// `n` prefixes has `n` better ones, each of which extends with the same suffix to a better
    /// text.
    pub fn top_texts(&self, n: usize) -> Vec<(String, f32)> {
        let mut beam: Vec<(String, f32)> = vec![(String::new(), self.share)];
        for slot in &self.positions {
            let mut next = Vec::with_capacity(beam.len() * slot.len().min(n));
            for (prefix, score) in &beam {
                for &(c, s) in slot.iter().take(n) {
                    let mut t = prefix.clone();
                    t.push(c);
                    next.push((t, score * s.min(1.0)));
                }
            }
            next.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            next.truncate(n);
            beam = next;
        }
        beam
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use custos_core::CharRead;

    /// A replaced character: `(position, char, confidence, alternatives)`.
    pub(crate) type Special<'a> = (usize, char, f32, &'a [(char, f32)]);

    /// A read of `text` where every character has `conf` and no alternatives, except the
    /// positions listed in `special`: `(position, char, confidence, alternatives)`.
    pub(crate) fn read(text: &str, conf: f32, special: &[Special<'_>]) -> PlateText {
        let chars = text
            .chars()
            .enumerate()
            .map(|(i, ch)| match special.iter().find(|s| s.0 == i) {
                Some(&(_, c, p, alts)) => CharRead {
                    ch: c,
                    confidence: p,
                    alternatives: alts.to_vec(),
                },
                None => CharRead {
                    ch,
                    confidence: conf,
                    alternatives: Vec::new(),
                },
            })
            .collect();
        PlateText::from_chars(chars)
    }

    #[test]
    fn confident_minority_beats_unsure_majority() {
        let mut b = Ballot::new();
        for _ in 0..3 {
            b.add(&read("ABC1234", 0.95, &[]));
        }
        // Four reads see `I` at position 3 but are unsure, with `1` a close second.
        for _ in 0..4 {
            b.add(&read("ABC1234", 0.95, &[(3, 'I', 0.3, &[('1', 0.25)])]));
        }
        let r = b.results();
        assert_eq!(r.len(), 1);
        let (text, scores) = r[0].best();
        assert_eq!(text, "ABC1234");
        // (3 × 0.95 + 4 × 0.25) / 7
        assert!((scores[3] - 3.85 / 7.0).abs() < 1e-5, "{scores:?}");
    }

    #[test]
    fn length_is_voted_first() {
        let mut b = Ballot::new();
        for _ in 0..5 {
            b.add(&read("ABC1234", 0.9, &[]));
        }
        for _ in 0..2 {
            b.add(&read("ABC234", 0.9, &[]));
        }
        assert!(!b.add(&read("", 0.9, &[])), "empty reads do not vote");
        let r = b.results();
        assert_eq!(r[0].len, 7);
        assert_eq!(r[0].best().0, "ABC1234");
        assert!((r[0].share - 5.0 / 7.0).abs() < 1e-5);
        assert_eq!(b.reads(), 7);
    }

    #[test]
    fn top_texts_are_ordered_and_exact() {
        let mut b = Ballot::new();
        b.add(&read(
            "AB",
            1.0,
            &[(0, 'A', 0.6, &[('4', 0.4)]), (1, 'B', 0.7, &[('8', 0.3)])],
        ));
        let r = &b.results()[0];
        let top = r.top_texts(3);
        let texts: Vec<&str> = top.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["AB", "4B", "A8"]);
        assert!((top[1].1 - 0.28).abs() < 1e-5);
        let (chars, whole) = r.score("48").unwrap();
        assert!((whole - 0.12).abs() < 1e-5 && (chars[0] - 0.4).abs() < 1e-5);
        assert!(r.score("ABC").is_none());
    }
}
