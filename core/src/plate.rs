//! Plate-text normalisation: the one spelling every stage compares, indexes and hashes.

/// Normalises plate text for comparison and indexing: ASCII letters are upper-cased, digits kept,
/// and everything else (spaces, dashes, dots, other characters) dropped, so `"ab-12 cd"` and
/// `"AB12CD"` are the same plate.
pub fn normalize_plate(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_separators_and_upper_cases() {
        assert_eq!(normalize_plate("ab-12 cd"), "AB12CD");
        assert_eq!(normalize_plate(" 7XYZ-001 "), "7XYZ001");
    }

    #[test]
    fn drops_non_ascii_and_punctuation() {
        assert_eq!(normalize_plate("Ä.B·1"), "B1");
        assert_eq!(normalize_plate("--"), "");
    }
}
