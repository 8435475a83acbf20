//! What OCR reads from one plate crop.

use serde::{Deserialize, Serialize};

/// One character position of a read, with the runners-up the model considered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharRead {
    /// The character read.
    pub ch: char,
    /// The model's probability for `ch` at this position, 0–1.
    pub confidence: f32,
    /// The best other characters at this position with their probabilities, best first (up to
    /// two: with `ch`, the top three).
    pub alternatives: Vec<(char, f32)>,
}

/// The text read from one plate crop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateText {
    /// Capitals and digits only.
    pub text: String,
    /// Each character of `text` with its confidence and alternatives.
    pub chars: Vec<CharRead>,
    /// Whole-plate confidence: the product of the character confidences (0 for an empty read).
    pub confidence: f32,
}

impl PlateText {
    /// The read made of these characters, its confidence their product.
    pub fn from_chars(chars: Vec<CharRead>) -> Self {
        let confidence = if chars.is_empty() {
            0.0
        } else {
            chars.iter().map(|c| c.confidence).product()
        };
        Self {
            text: chars.iter().map(|c| c.ch).collect(),
            chars,
            confidence,
        }
    }
}
