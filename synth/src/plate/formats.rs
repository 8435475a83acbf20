/// Letters most issuers use: no I, O, Q.
pub const COMMON_LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
/// Every letter, for training data: some issuers (and vanity plates) do use I, O and Q.
pub const ALL_LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub(super) const DIGITS: &[u8] = b"0123456789";

/// Expands a pattern: `L` a letter of `letters` ([`COMMON_LETTERS`] when empty), `D` a digit,
/// anything else kept.
pub(super) fn fill_pattern(rng: &mut fastrand::Rng, letters: &[u8], pattern: &str) -> String {
    let letters = if letters.is_empty() {
        COMMON_LETTERS
    } else {
        letters
    };
    pattern
        .chars()
        .map(|c| match c {
            'L' => char::from(letters[rng.usize(..letters.len())]),
            'D' => char::from(DIGITS[rng.usize(..DIGITS.len())]),
            other => other,
        })
        .collect()
}
