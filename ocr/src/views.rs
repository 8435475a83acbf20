//! Reading a crop several times: each view cuts it a little differently (wider, narrower, taller,
//! shorter), and the text most views agree on is kept. A crop cut tight to its characters, or
//! with a frame edge at its side, is often misread in one cut and read right in the others.

use custos_core::PlateText;

use crate::preprocess::View;

/// The views in the order they are used: `views = n` reads the first n. The whole crop first, so
/// one view is the plain read; then the cuts that most often disagree with it: wider sides (the
/// model was trained with margins around the plate), wider all round, shorter, narrower.
pub const VIEWS: [View; 7] = [
    View::WHOLE,
    View::new(-0.04, 0.0, -0.04, 0.0),
    View::new(-0.04, -0.08, -0.04, -0.08),
    View::new(0.0, 0.06, 0.0, 0.06),
    View::new(0.03, 0.0, 0.03, 0.0),
    View::new(0.03, 0.06, 0.03, 0.06),
    View::new(0.0, -0.08, 0.0, -0.08),
];

/// The most views' text, the earliest view's read of it (so a tie goes to the earliest view, the
/// whole crop first). No reads: the empty read.
pub fn vote(reads: Vec<PlateText>) -> PlateText {
    let count = |text: &str| reads.iter().filter(|r| r.text == text).count();
    let best = (0..reads.len()).max_by(|&a, &b| {
        count(&reads[a].text)
            .cmp(&count(&reads[b].text))
            .then(b.cmp(&a)) // equal counts: the earlier view wins
    });
    best.and_then(|i| reads.into_iter().nth(i))
        .unwrap_or_else(|| PlateText::from_chars(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, confidence: f32) -> PlateText {
        PlateText {
            text: text.into(),
            chars: Vec::new(),
            confidence,
        }
    }

    #[test]
    fn the_majority_text_wins_and_ties_go_to_the_earliest_view() {
        let v = vote(vec![
            read("ABC123", 0.4),
            read("A8C123", 0.9),
            read("A8C123", 0.8),
        ]);
        assert_eq!((v.text.as_str(), v.confidence), ("A8C123", 0.9));
        let v = vote(vec![
            read("ABC123", 0.4),
            read("A8C123", 0.9),
            read("ABC12", 0.8),
        ]);
        assert_eq!(v.text, "ABC123");
        assert_eq!(vote(Vec::new()).text, "");
    }

    #[test]
    fn the_first_view_is_the_whole_crop() {
        assert_eq!(VIEWS[0], View::WHOLE);
    }
}
