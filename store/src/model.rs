//! Read records: what the pipeline hands the store, what a search returns, and the stored form
//! (clear metadata header, sealed payload).

use custos_core::CameraId;
use serde::{Deserialize, Serialize};

use crate::crypto::Token;

/// Hit flag bit: the read matched a hotlist entry.
pub const HIT: u32 = 1;

/// A read id: the UTC day in the top 24 bits, a per-agency sequence below, so ids sort by day and
/// name the table they live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReadId(pub u64);

impl ReadId {
    pub fn new(day: u32, seq: u64) -> Self {
        Self(((day as u64) << 40) | (seq & ((1 << 40) - 1)))
    }
    pub fn day(self) -> u32 {
        (self.0 >> 40) as u32
    }
}

impl std::fmt::Display for ReadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateCandidate {
    pub text: String,
    pub score: f32,
}

/// A read as the pipeline produces it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRead {
    pub camera: CameraId,
    /// Capture time, ms since the Unix epoch (UTC).
    pub captured_at_ms: u64,
    pub plate: String,
    pub confidence: f32,
    pub char_confidences: Vec<f32>,
    pub candidates: Vec<PlateCandidate>,
    /// Plate quad in frame pixels: x0,y0 … x3,y3.
    pub plate_box: [f32; 8],
    pub crop_jpeg: Option<Vec<u8>>,
    /// Off by default (data minimisation): the pipeline sets it only where policy allows.
    pub context_jpeg: Option<Vec<u8>>,
    pub track_id: u64,
    pub hit_flags: u32,
}

/// A read as stored and returned, decrypted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub id: ReadId,
    pub camera: String,
    pub captured_at_ms: u64,
    pub plate: String,
    pub confidence: f32,
    pub char_confidences: Vec<f32>,
    pub candidates: Vec<PlateCandidate>,
    pub plate_box: [f32; 8],
    #[serde(skip)]
    pub crop_jpeg: Option<Vec<u8>>,
    #[serde(skip)]
    pub context_jpeg: Option<Vec<u8>>,
    pub track_id: u64,
    pub hit_flags: u32,
    /// Pinned by a legal hold.
    pub held: bool,
}

/// The sealed part of a read.
#[derive(Serialize, Deserialize)]
pub(crate) struct Payload {
    pub plate: String,
    pub char_confidences: Vec<f32>,
    pub candidates: Vec<PlateCandidate>,
    pub plate_box: [f32; 8],
    pub crop_jpeg: Option<Vec<u8>>,
    pub context_jpeg: Option<Vec<u8>>,
}

/// Which key seals a stored read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SealedBy {
    Day(u32),
    Hold(u64),
}

/// Fixed header (so retention can filter without decoding) then postcard of [`StoredTail`].
/// Layout: version u8 | captured_at_ms u64 LE | hit_flags u32 LE | token [16].
pub(crate) const HEADER_LEN: usize = 1 + 8 + 4 + 16;
const FORMAT: u8 = 1;

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredTail {
    pub sealed_by: SealedBy,
    pub camera: String,
    pub confidence: f32,
    pub track_id: u64,
    pub sealed: Vec<u8>,
}

pub(crate) struct StoredRead {
    pub captured_at_ms: u64,
    pub hit_flags: u32,
    pub token: Token,
    pub tail: StoredTail,
}

impl StoredRead {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64 + self.tail.sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.captured_at_ms.to_le_bytes());
        out.extend_from_slice(&self.hit_flags.to_le_bytes());
        out.extend_from_slice(&self.token);
        // Serialising plain structs into a Vec cannot fail.
        out.extend_from_slice(&postcard::to_allocvec(&self.tail).unwrap_or_default());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (time, flags, token) = header(bytes)?;
        Some(Self {
            captured_at_ms: time,
            hit_flags: flags,
            token,
            tail: postcard::from_bytes(&bytes[HEADER_LEN..]).ok()?,
        })
    }
}

/// (captured_at_ms, hit_flags, token) from a stored read's header.
pub(crate) fn header(bytes: &[u8]) -> Option<(u64, u32, Token)> {
    if bytes.len() < HEADER_LEN || bytes[0] != FORMAT {
        return None;
    }
    let time = u64::from_le_bytes(bytes[1..9].try_into().ok()?);
    let flags = u32::from_le_bytes(bytes[9..13].try_into().ok()?);
    let token: Token = bytes[13..29].try_into().ok()?;
    Some((time, flags, token))
}

/// Blind-index key: token | time BE | read id BE, so one plate's reads in a day are one range.
pub(crate) fn index_key(token: &Token, time_ms: u64, id: ReadId) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(token);
    k[16..24].copy_from_slice(&time_ms.to_be_bytes());
    k[24..].copy_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn read_aad(agency: &str, id: ReadId) -> Vec<u8> {
    format!("custos-read/v1|{agency}|{}", id.0).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_id_keeps_day() {
        let id = ReadId::new(20_000, 123);
        assert_eq!(id.day(), 20_000);
        assert!(ReadId::new(20_001, 0) > ReadId::new(20_000, 999));
    }

    #[test]
    fn stored_read_round_trips() {
        let s = StoredRead {
            captured_at_ms: 42,
            hit_flags: HIT,
            token: [5; 16],
            tail: StoredTail {
                sealed_by: SealedBy::Hold(3),
                camera: "c".into(),
                confidence: 0.5,
                track_id: 9,
                sealed: vec![1, 2, 3],
            },
        };
        let d = StoredRead::decode(&s.encode()).unwrap();
        assert_eq!(d.captured_at_ms, 42);
        assert_eq!(d.tail.sealed_by, SealedBy::Hold(3));
        assert_eq!(header(&s.encode()).unwrap().1, HIT);
    }
}
