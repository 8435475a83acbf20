//! CTC decoding of the model's per-step class probabilities into plate text.

use custos_core::{CharRead, PlateText};

/// Class 0 is the CTC blank; class `i + 1` is `CHARSET[i]`.
pub const CHARSET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Best-path decoding of one crop's `steps × (CHARSET.len() + 1)` probabilities: the most likely
/// class per step, repeats collapsed, blanks dropped. A character's confidence is its highest
/// probability over the steps it spans; its alternatives are the next best characters at that
/// step.
pub fn decode_ctc(probs: &[f32], steps: usize) -> PlateText {
    let classes = CHARSET.len() + 1;
    let mut chars: Vec<CharRead> = Vec::new();
    let mut prev = 0usize;
    let mut best_step: Option<(usize, f32)> = None; // (step, prob) of the current character
    for step in 0..steps.min(probs.len() / classes) {
        let row = &probs[step * classes..(step + 1) * classes];
        let (class, p) = argmax(row);
        if class != prev && class != 0 {
            if let Some((s, _)) = best_step.take() {
                push_char(&mut chars, &probs[s * classes..(s + 1) * classes], prev);
            }
            best_step = Some((step, p));
        } else if class == prev && class != 0 {
            if best_step.is_some_and(|(_, bp)| p > bp) {
                best_step = Some((step, p));
            }
        } else if class == 0
            && let Some((s, _)) = best_step.take()
        {
            push_char(&mut chars, &probs[s * classes..(s + 1) * classes], prev);
        }
        prev = class;
    }
    if let Some((s, _)) = best_step {
        push_char(&mut chars, &probs[s * classes..(s + 1) * classes], prev);
    }
    PlateText::from_chars(chars)
}

fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, p)| if p > best.1 { (i, p) } else { best },
    )
}

fn push_char(chars: &mut Vec<CharRead>, row: &[f32], class: usize) {
    let mut others: Vec<(char, f32)> = row
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| *i != class)
        .map(|(i, p)| (char::from(CHARSET[i - 1]), *p))
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1));
    others.truncate(2);
    chars.push(CharRead {
        ch: char::from(CHARSET[class - 1]),
        confidence: row[class],
        alternatives: others,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step's probabilities: `p` on `class`, the rest spread evenly.
    fn step(class: usize, p: f32) -> Vec<f32> {
        let classes = CHARSET.len() + 1;
        let rest = (1.0 - p) / (classes - 1) as f32;
        (0..classes)
            .map(|i| if i == class { p } else { rest })
            .collect()
    }

    fn class_of(c: u8) -> usize {
        CHARSET.iter().position(|x| *x == c).unwrap() + 1
    }

    #[test]
    fn collapses_repeats_and_drops_blanks() {
        let a = class_of(b'A');
        let one = class_of(b'1');
        // A A _ A 1 1 _ _ 1  →  "AA11"
        let seq = [
            (a, 0.9),
            (a, 0.95),
            (0, 0.9),
            (a, 0.8),
            (one, 0.7),
            (one, 0.99),
            (0, 0.9),
            (0, 0.9),
            (one, 0.6),
        ];
        let probs: Vec<f32> = seq.iter().flat_map(|(c, p)| step(*c, *p)).collect();
        let read = decode_ctc(&probs, seq.len());
        assert_eq!(read.text, "AA11");
        let conf: Vec<f32> = read.chars.iter().map(|c| c.confidence).collect();
        assert_eq!(conf, vec![0.95, 0.8, 0.99, 0.6]);
        assert!((read.confidence - 0.95 * 0.8 * 0.99 * 0.6).abs() < 1e-6);
    }

    #[test]
    fn alternatives_are_the_runners_up() {
        let classes = CHARSET.len() + 1;
        let mut row = vec![0.0; classes];
        row[class_of(b'0')] = 0.5;
        row[class_of(b'O')] = 0.3;
        row[class_of(b'D')] = 0.15;
        row[0] = 0.05;
        let read = decode_ctc(&row, 1);
        assert_eq!(read.text, "0");
        assert_eq!(read.chars[0].alternatives, vec![('O', 0.3), ('D', 0.15)]);
    }

    #[test]
    fn all_blank_is_an_empty_read_with_zero_confidence() {
        let probs: Vec<f32> = (0..5).flat_map(|_| step(0, 0.99)).collect();
        let read = decode_ctc(&probs, 5);
        assert_eq!(read.text, "");
        assert_eq!(read.confidence, 0.0);
    }

    #[test]
    fn short_buffers_do_not_panic() {
        assert_eq!(decode_ctc(&[0.5; 10], 40).text, "");
    }
}
