//! TOTP (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, as authenticator apps expect. A code
//! is accepted for the current step ±1, and only for a step later than the last one accepted,
//! so a code (or an older one) cannot be replayed.

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_MS: u64 = 30_000;
pub const DIGITS: u32 = 6;
pub const SECRET_BYTES: usize = 20;

/// HOTP (RFC 4226) value of `counter` with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX; // HMAC accepts any key length; unreachable in practice
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = (u32::from(h[off]) & 0x7f) << 24
        | u32::from(h[off + 1]) << 16
        | u32::from(h[off + 2]) << 8
        | u32::from(h[off + 3]);
    bin % 10u32.pow(digits)
}

pub fn step_of(now_ms: u64) -> u64 {
    now_ms / STEP_MS
}

/// The code an authenticator shows at `now_ms`.
pub fn code_at(secret: &[u8], now_ms: u64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step_of(now_ms), DIGITS),
        width = DIGITS as usize
    )
}

/// The step `code` is valid for (current ±1, later than `last_step`), if any.
pub fn verify(secret: &[u8], code: &str, now_ms: u64, last_step: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let now = step_of(now_ms);
    // A last step beyond the window was used while the clock ran ahead; honoured, it would
    // refuse every code until the clock caught up again, locking everyone out.
    let last_step = if last_step > now + 1 {
        now.saturating_sub(2)
    } else {
        last_step
    };
    let mut found = None;
    // Check every candidate step (no early exit) so timing does not tell which one matched.
    for step in now.saturating_sub(1)..=now + 1 {
        let ok = hotp(secret, step, DIGITS) == given;
        if ok && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn otpauth_uri(agency: &str, principal: &str, secret: &[u8]) -> String {
    let label: String = format!("Custos {agency}:{principal}")
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "otpauth://totp/{label}?secret={}&issuer=Custos&algorithm=SHA1&digits={DIGITS}&period={}",
        base32(secret),
        STEP_MS / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column (8 digits, secret "12345678901234567890").
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(secret, t / 30, 8), want, "t={t}");
        }
    }

    #[test]
    fn window_and_replay() {
        let secret = [9u8; SECRET_BYTES];
        let now = 1_800_000_000_000;
        let code = code_at(&secret, now);
        let step = step_of(now);
        assert_eq!(verify(&secret, &code, now, 0), Some(step));
        // One step late or early is accepted; two is not.
        assert_eq!(verify(&secret, &code, now + STEP_MS, 0), Some(step));
        assert_eq!(verify(&secret, &code, now - STEP_MS, 0), Some(step));
        assert_eq!(verify(&secret, &code, now + 2 * STEP_MS, 0), None);
        // Replay: the step was already used.
        assert_eq!(verify(&secret, &code, now, step), None);
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn a_step_used_while_the_clock_ran_ahead_does_not_lock_out() {
        let secret = [9u8; SECRET_BYTES];
        let now = 1_800_000_000_000;
        // Used an hour ahead, before the clock was put right.
        let future_step = step_of(now + 3_600_000);
        let code = code_at(&secret, now);
        assert_eq!(verify(&secret, &code, now, future_step), Some(step_of(now)));
        // Within the window the last step still refuses replays.
        assert_eq!(verify(&secret, &code, now, step_of(now) + 1), None);
    }

    #[test]
    fn base32_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert!(otpauth_uri("north", "jane doe", &[0; 20]).contains("Custos%20north:jane%20doe"));
    }
}
