//! Read records: what the pipeline hands the store, what a search returns, and the stored form
//! (clear metadata header, sealed payload).

use custos_core::CameraId;
use serde::{Deserialize, Serialize};

use crate::crypto::Token;
use crate::error::{Result, StoreError};

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

impl NewRead {
    /// The plate as the store indexes it (letters and digits, upper case).
    pub fn stored_plate(&self) -> String {
        custos_core::normalize_plate(&self.plate)
    }

    /// The read as the store returns it once ingested under `id` (see
    /// [`AgencyStore::ingest`](crate::AgencyStore::ingest)), without reading it back.
    pub fn into_read(self, id: ReadId) -> Read {
        Read {
            id,
            camera: self.camera.as_str().to_owned(),
            captured_at_ms: self.captured_at_ms,
            plate: self.stored_plate(),
            confidence: self.confidence,
            char_confidences: self.char_confidences,
            candidates: self.candidates,
            plate_box: self.plate_box,
            crop_jpeg: self.crop_jpeg,
            context_jpeg: self.context_jpeg,
            track_id: self.track_id,
            hit_flags: self.hit_flags,
            held: false,
        }
    }
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

/// [`Payload`] borrowed from a [`NewRead`] for sealing: same fields, same order, so the same
/// postcard bytes, without copying the plate, candidates and images first.
#[derive(Serialize)]
pub(crate) struct PayloadRef<'a> {
    pub plate: &'a str,
    pub char_confidences: &'a [f32],
    pub candidates: &'a [PlateCandidate],
    pub plate_box: [f32; 8],
    pub crop_jpeg: Option<&'a [u8]>,
    pub context_jpeg: Option<&'a [u8]>,
}

impl<'a> PayloadRef<'a> {
    pub fn of(r: &'a NewRead) -> Self {
        Self {
            plate: &r.plate,
            char_confidences: &r.char_confidences,
            candidates: &r.candidates,
            plate_box: r.plate_box,
            crop_jpeg: r.crop_jpeg.as_deref(),
            context_jpeg: r.context_jpeg.as_deref(),
        }
    }
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
        // Serialising plain structs into a Vec cannot fail; on the impossible error the record
        // is refused by `decode` rather than stored half-written.
        postcard::to_extend(&self.tail, out).unwrap_or_default()
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

/// Width of a blind-index bucket: the index key starts with the 8-hour block of the day.
pub(crate) const INDEX_BUCKET_MS: u64 = 8 * 3_600_000;
/// Length of a blind-index key: bucket u8 | token [16] | time BE u64 | read id BE u64.
pub(crate) const INDEX_KEY_LEN: usize = 1 + 16 + 8 + 8;

/// Blind-index key: 8-hour block of the day | token | time BE | read id BE.
///
/// The block comes first because reads arrive in capture order: a batch's keys land in the
/// current block's part of the day's B-tree, so a commit rewrites that block's pages rather than
/// pages all over the day (which made ingest slow down as a day's index grew). One plate's reads
/// in one block are one range; a search scans one range per block of its window (3 per day:
/// narrower blocks make ingest cheaper and searches dearer).
pub(crate) fn index_key(token: &Token, time_ms: u64, id: ReadId) -> [u8; INDEX_KEY_LEN] {
    let mut k = [0u8; INDEX_KEY_LEN];
    k[0] = index_bucket(time_ms);
    k[1..17].copy_from_slice(token);
    k[17..25].copy_from_slice(&time_ms.to_be_bytes());
    k[25..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// The bucket (8-hour block of the UTC day, 0-2) of a capture time.
pub(crate) fn index_bucket(time_ms: u64) -> u8 {
    ((time_ms % crate::clock::MS_PER_DAY) / INDEX_BUCKET_MS) as u8
}

/// The read id at the end of a blind-index key.
pub(crate) fn index_key_id(key: &[u8]) -> Option<ReadId> {
    let tail: [u8; 8] = key.get(INDEX_KEY_LEN - 8..INDEX_KEY_LEN)?.try_into().ok()?;
    Some(ReadId(u64::from_be_bytes(tail)))
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
    fn borrowed_payload_encodes_like_the_owned_one() {
        let r = NewRead {
            camera: CameraId::new("c").unwrap(),
            captured_at_ms: 1,
            plate: "AB12CD".into(),
            confidence: 0.5,
            char_confidences: vec![0.5, 0.25],
            candidates: vec![PlateCandidate {
                text: "AB12CO".into(),
                score: 0.1,
            }],
            plate_box: [1.0; 8],
            crop_jpeg: Some(vec![1, 2, 3]),
            context_jpeg: None,
            track_id: 2,
            hit_flags: 0,
        };
        let owned = Payload {
            plate: r.plate.clone(),
            char_confidences: r.char_confidences.clone(),
            candidates: r.candidates.clone(),
            plate_box: r.plate_box,
            crop_jpeg: r.crop_jpeg.clone(),
            context_jpeg: r.context_jpeg.clone(),
        };
        assert_eq!(
            postcard::to_allocvec(&PayloadRef::of(&r)).unwrap(),
            postcard::to_allocvec(&owned).unwrap()
        );
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

/// How long an agency keeps its data (the store enforces it itself: see `retention`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub reads_days: u32,
    pub hits_days: u32,
    /// Hit-only mode: reads without a hit are deleted this many minutes after capture.
    pub hit_only_minutes: Option<u32>,
    pub audit_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            reads_days: 30,
            hits_days: 365,
            hit_only_minutes: None,
            audit_days: 400,
        }
    }
}

impl RetentionPolicy {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StoreError::BadPolicy(m));
        if self.reads_days == 0 {
            return bad("reads must be kept at least 1 day".into());
        }
        if self.reads_days > self.hits_days {
            return bad(format!(
                "reads are kept {} days but hits only {}: hits must be kept at least as long as \
                 reads",
                self.reads_days, self.hits_days
            ));
        }
        if self.audit_days < 365 {
            return bad(format!(
                "the audit log must be kept at least 365 days, not {}",
                self.audit_days
            ));
        }
        if self.hit_only_minutes == Some(0) {
            return bad("hit-only mode needs at least 1 minute".into());
        }
        Ok(())
    }
}
