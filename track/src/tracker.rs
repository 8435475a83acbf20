//! Per-camera tracking: associates a camera's detections across frames and emits one
//! [`VehiclePass`] per track when it ends.
//!
//! Association is greedy on a score per (track, detection) pair:
//!
//! - **Position.** The track's box is moved by its constant-velocity prediction to the frame's
//!   time; the pair's overlap is the larger IoU of the detection with the predicted box and with
//!   the last box (the second covers a velocity estimate thrown off by detector jitter). Pairs
//!   under [`TrackerConfig::min_iou`] are not considered.
//! - **Text.** The similarity (1 − edit distance / length) of the detection's read with the
//!   track's last read and its most confident read; pairs under
//!   [`TrackerConfig::min_text_similarity`] are not considered. This keeps two adjacent plates,
//!   whose boxes may overlap, from swapping tracks, and starts a new track when a different
//!   plate appears where an old one just was. An empty read is neutral.
//!
//! The pair score is `iou + text_weight × similarity`; pairs are taken best first, each track
//! and detection at most once. Unmatched detections start tracks.
//!
//! A track ends when no detection joined it for longer than [`TrackerConfig::max_gap_ms`] of
//! frame time (so a lower analysis rate or skipped frames do not end tracks early), and on
//! [`Tracker::flush`]. Time comes from the caller (the frame's capture or receive time); a
//! clock that steps backwards is treated as no time passing.

use std::time::{Duration, SystemTime};

use custos_core::{CameraId, Candidate, PlateText, Quad, iou};
use serde::{Deserialize, Serialize};

use crate::confusion::similarity;
use crate::prior::{FormatPriors, TextCandidate};
use crate::vote::Ballot;

/// Tracker settings, shared by all cameras or set per camera. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// A track ends when no detection joined it for longer than this, in milliseconds of frame
    /// time. Default: 1000.
    pub max_gap_ms: u64,
    /// Passes seen in fewer frames are dropped (and counted). At least 1. Default: 3.
    pub min_frames: u32,
    /// Passes whose voted confidence (0–1, the product of the per-character scores times the
    /// length's share) is below this are dropped (and counted). Default: 0.3, chosen with
    /// the storage gate on the end-to-end benchmark's validation split: below it nearly every
    /// pass on real footage was junk.
    pub min_confidence: f32,
    /// Smallest IoU between a track's (predicted or last) box and a detection for them to be
    /// associated, 0–1. Default: 0.1.
    pub min_iou: f32,
    /// Smallest text similarity (1 − edit distance / length, 0–1) between a detection's read
    /// and the track's reads for them to be associated. Default: 0.4 (3 of 7 characters may
    /// differ).
    pub min_text_similarity: f32,
    /// Weight of text similarity against IoU in the association score, ≥ 0. Default: 0.5.
    pub text_weight: f32,
    /// A detection that does not overlap its track's box enough (`min_iou`) may still join it
    /// when it reads alike (`jump_text_similarity`) and its centre is at most this many box
    /// widths from the track's predicted or last centre: at a low analysis rate a plate close
    /// to the camera moves more than its own size between analysed frames. 0 turns it off.
    /// Default: 2.
    pub max_jump: f32,
    /// Smallest text similarity (0–1) for such a jump: 0.7 lets a read that lost a character
    /// at each end ("NG195" for "TNG1956") follow its plate. Default: 0.7.
    pub jump_text_similarity: f32,
    /// Candidate texts kept per pass (the chosen text included), at least 1. Default: 5.
    pub max_candidates: usize,
    /// Most tracks open at once per camera; detections that would open more are dropped and
    /// counted, which bounds memory on a scene full of false detections. At least 1.
    /// Default: 64.
    pub max_tracks: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            max_gap_ms: 1000,
            min_frames: 3,
            min_confidence: 0.3,
            min_iou: 0.1,
            min_text_similarity: 0.4,
            text_weight: 0.5,
            max_jump: 2.0,
            jump_text_similarity: 0.7,
            max_candidates: 5,
            max_tracks: 64,
        }
    }
}

/// A bad tracker configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrackerConfigError {
    #[error("{key} is {value}; it must be between 0 and 1")]
    OutOfUnitRange { key: &'static str, value: f32 },
    #[error("text_weight is {0}; it must be a finite number ≥ 0")]
    BadTextWeight(f32),
    #[error("max_jump is {0}; it must be a finite number ≥ 0")]
    BadMaxJump(f32),
    #[error("{key} must be at least 1")]
    Zero { key: &'static str },
}

impl TrackerConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), TrackerConfigError> {
        for (key, value) in [
            ("min_confidence", self.min_confidence),
            ("min_iou", self.min_iou),
            ("min_text_similarity", self.min_text_similarity),
            ("jump_text_similarity", self.jump_text_similarity),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(TrackerConfigError::OutOfUnitRange { key, value });
            }
        }
        if !(self.text_weight.is_finite() && self.text_weight >= 0.0) {
            return Err(TrackerConfigError::BadTextWeight(self.text_weight));
        }
        if !(self.max_jump.is_finite() && self.max_jump >= 0.0) {
            return Err(TrackerConfigError::BadMaxJump(self.max_jump));
        }
        for (key, value) in [
            ("min_frames", self.min_frames as usize),
            ("max_candidates", self.max_candidates),
            ("max_tracks", self.max_tracks),
        ] {
            if value == 0 {
                return Err(TrackerConfigError::Zero { key });
            }
        }
        Ok(())
    }

    pub fn max_gap(&self) -> Duration {
        Duration::from_millis(self.max_gap_ms)
    }
}

/// One plate detection in one frame with its OCR read. `C` is the caller's handle to the crop
/// (an id, an `Arc` of pixels, …): the tracker only moves it, keeping the one of the most
/// confident read and dropping the others.
#[derive(Clone, Debug)]
pub struct Detection<C> {
    pub candidate: Candidate,
    pub read: PlateText,
    pub crop: C,
}

/// One vehicle pass: everything the tracker learned about one plate while it was in view.
#[derive(Clone, Debug)]
pub struct VehiclePass<C> {
    pub camera: CameraId,
    /// Unique per tracker (counts from 1), in the order the tracks started.
    pub track_id: u64,
    /// The chosen text (voted, then re-ranked by the format priors).
    pub text: String,
    /// Score of each character of `text`, 0–1.
    pub char_confidences: Vec<f32>,
    /// Whole-pass confidence, 0–1: the length's share of the vote times the product of
    /// `char_confidences`.
    pub confidence: f32,
    /// Candidate texts best first; the first is `text`.
    pub candidates: Vec<TextCandidate>,
    /// Whether `text` fits the camera's plate patterns; `None` when it has none.
    pub fits_format: Option<bool>,
    /// Whether the format priors changed the text from the plain vote's winner.
    pub prior_applied: bool,
    /// The crop of the most confident read.
    pub best_crop: C,
    /// That read's whole-plate confidence.
    pub best_crop_confidence: f32,
    /// That detection's quad and frame time.
    pub best_quad: Quad,
    pub best_crop_at: SystemTime,
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
    /// Frames with a detection in this track.
    pub frames: u32,
    /// Reads that took part in the vote (non-empty ones).
    pub reads: u32,
    /// Reads that equal `text` letter for letter: the frames that agree with the verdict.
    pub agreeing_reads: u32,
    /// The detector's highest score for this track, 0–1.
    pub detector_score: f32,
}

/// Counters since the tracker was made, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub detections: u64,
    pub tracks_started: u64,
    pub passes: u64,
    /// Tracks ended with fewer than `min_frames` frames.
    pub dropped_min_frames: u64,
    /// Tracks whose voted confidence was below `min_confidence`.
    pub dropped_min_confidence: u64,
    /// Tracks with no usable read at all.
    pub dropped_no_text: u64,
    /// Detections dropped because `max_tracks` tracks were open.
    pub dropped_over_capacity: u64,
}

struct Track<C> {
    id: u64,
    first_seen: SystemTime,
    last_seen: SystemTime,
    frames: u32,
    last_box: [f32; 4],
    /// Centre velocity in pixels per second, smoothed.
    velocity: [f32; 2],
    last_text: String,
    best_text: String,
    best_crop: C,
    best_confidence: f32,
    best_quad: Quad,
    best_at: SystemTime,
    ballot: Ballot,
    /// Distinct texts read and how often, to count the reads that agree with the verdict;
    /// capped at [`MAX_DISTINCT_TEXTS`] so a long pass stays bounded.
    texts: Vec<(String, u32)>,
    detector_score: f32,
}

/// Distinct texts counted per track; later new texts still vote but are not counted.
const MAX_DISTINCT_TEXTS: usize = 32;

fn centre(b: [f32; 4]) -> [f32; 2] {
    [(b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5]
}

fn elapsed(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or(Duration::ZERO)
}

/// Whole-plate confidence of a read, with NaN treated as 0 so that comparisons stay sane.
fn read_confidence(read: &PlateText) -> f32 {
    if read.confidence.is_nan() {
        0.0
    } else {
        read.confidence
    }
}

impl<C> Track<C> {
    fn new(id: u64, at: SystemTime, det: Detection<C>) -> Self {
        let mut ballot = Ballot::new();
        ballot.add(&det.read);
        Self {
            id,
            first_seen: at,
            last_seen: at,
            frames: 1,
            last_box: det.candidate.bbox(),
            velocity: [0.0, 0.0],
            last_text: det.read.text.clone(),
            best_text: det.read.text.clone(),
            best_confidence: read_confidence(&det.read),
            best_quad: det.candidate.quad,
            best_at: at,
            detector_score: det.candidate.score,
            texts: vec![(det.read.text, 1)],
            best_crop: det.crop,
            ballot,
        }
    }

    fn count_text(&mut self, text: &str) {
        if let Some((_, n)) = self.texts.iter_mut().find(|(t, _)| t == text) {
            *n += 1;
        } else if self.texts.len() < MAX_DISTINCT_TEXTS {
            self.texts.push((text.to_owned(), 1));
        }
    }

    fn reads_of(&self, text: &str) -> u32 {
        self.texts
            .iter()
            .find(|(t, _)| t == text)
            .map_or(0, |(_, n)| *n)
    }

    fn predict(&self, at: SystemTime, max_gap: Duration) -> [f32; 4] {
        let dt = elapsed(self.last_seen, at).min(max_gap).as_secs_f32();
        let [dx, dy] = [self.velocity[0] * dt, self.velocity[1] * dt];
        let b = self.last_box;
        [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
    }

    fn text_similarity(&self, text: &str) -> f32 {
        if text.is_empty() || (self.last_text.is_empty() && self.best_text.is_empty()) {
            // Nothing to compare: neither for nor against.
            return 0.5;
        }
        similarity(text, &self.last_text).max(similarity(text, &self.best_text))
    }

    fn observe(&mut self, at: SystemTime, det: Detection<C>) {
        let b = det.candidate.bbox();
        let dt = elapsed(self.last_seen, at).as_secs_f32();
        if dt > 0.0 {
            let (old, new) = (centre(self.last_box), centre(b));
            let v = [(new[0] - old[0]) / dt, (new[1] - old[1]) / dt];
            // The first step has no history to smooth against; later ones halve the jitter.
            self.velocity = if self.frames == 1 {
                v
            } else {
                [
                    0.5 * (v[0] + self.velocity[0]),
                    0.5 * (v[1] + self.velocity[1]),
                ]
            };
        }
        if at > self.last_seen {
            self.last_seen = at;
        }
        self.last_box = b;
        self.frames += 1;
        self.ballot.add(&det.read);
        self.count_text(&det.read.text);
        self.detector_score = self.detector_score.max(det.candidate.score);
        self.last_text.clone_from(&det.read.text);
        let conf = read_confidence(&det.read);
        if conf > self.best_confidence {
            self.best_confidence = conf;
            self.best_text.clone_from(&det.read.text);
            self.best_quad = det.candidate.quad;
            self.best_at = at;
            self.best_crop = det.crop;
        }
    }
}

/// Tracks one camera's plates. Not thread-safe by design: one tracker per camera, fed in frame
/// order by one thread.
pub struct Tracker<C> {
    camera: CameraId,
    config: TrackerConfig,
    priors: FormatPriors,
    tracks: Vec<Track<C>>,
    next_id: u64,
    stats: TrackerStats,
}

impl<C> Tracker<C> {
    /// A tracker for `camera`; checks the configuration.
    pub fn new(
        camera: CameraId,
        config: TrackerConfig,
        priors: FormatPriors,
    ) -> Result<Self, TrackerConfigError> {
        config.validate()?;
        Ok(Self {
            camera,
            config,
            priors,
            tracks: Vec::new(),
            next_id: 1,
            stats: TrackerStats::default(),
        })
    }

    pub fn camera(&self) -> &CameraId {
        &self.camera
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Tracks currently open.
    pub fn active_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Feeds one analysed frame: ends the tracks whose gap has passed at `at`, associates the
    /// frame's detections (possibly none) with the open tracks and opens tracks for the rest.
    /// Returns the passes of the tracks that ended, in track order.
    pub fn push(
        &mut self,
        at: SystemTime,
        detections: impl IntoIterator<Item = Detection<C>>,
    ) -> Vec<VehiclePass<C>> {
        let passes = self.expire(at);
        let mut dets: Vec<Option<Detection<C>>> = detections.into_iter().map(Some).collect();
        self.stats.detections += dets.len() as u64;

        let max_gap = self.config.max_gap();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, track) in self.tracks.iter().enumerate() {
            let predicted = track.predict(at, max_gap);
            for (di, det) in dets.iter().enumerate() {
                let Some(det) = det else { continue };
                let b = det.candidate.bbox();
                let overlap = iou(predicted, b).max(iou(track.last_box, b));
                let sim = track.text_similarity(&det.read.text);
                let overlaps = overlap >= self.config.min_iou && overlap > 0.0;
                if !overlaps && !self.jumped(track, predicted, b, sim) {
                    continue;
                }
                if sim < self.config.min_text_similarity {
                    continue;
                }
                pairs.push((overlap + self.config.text_weight * sim, ti, di));
            }
        }
        // Best first; ties broken by index so the outcome does not depend on sort stability.
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_taken = vec![false; self.tracks.len()];
        for (_, ti, di) in pairs {
            if track_taken[ti] {
                continue;
            }
            if let Some(det) = dets[di].take() {
                track_taken[ti] = true;
                self.tracks[ti].observe(at, det);
            }
        }
        for det in dets.into_iter().flatten() {
            if self.tracks.len() >= self.config.max_tracks {
                self.stats.dropped_over_capacity += 1;
                continue;
            }
            self.tracks.push(Track::new(self.next_id, at, det));
            self.next_id += 1;
            self.stats.tracks_started += 1;
        }
        passes
    }

    /// Whether detection box `b`, reading `sim`-alike, is a plausible jump of `track` (whose
    /// predicted box is `predicted`) between two analysed frames.
    fn jumped(&self, track: &Track<C>, predicted: [f32; 4], b: [f32; 4], sim: f32) -> bool {
        if self.config.max_jump <= 0.0 || sim < self.config.jump_text_similarity {
            return false;
        }
        let width = (track.last_box[2] - track.last_box[0]).max(b[2] - b[0]);
        let reach = self.config.max_jump * width;
        let c = centre(b);
        [predicted, track.last_box].iter().any(|from| {
            let f = centre(*from);
            (c[0] - f[0]).hypot(c[1] - f[1]) <= reach
        })
    }

    /// Ends the tracks with no detection for longer than the gap at time `now`, without a new
    /// frame (for a camera whose frames stopped). Returns their passes, in track order.
    pub fn expire(&mut self, now: SystemTime) -> Vec<VehiclePass<C>> {
        let max_gap = self.config.max_gap();
        let (ended, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| elapsed(t.last_seen, now) > max_gap);
        self.tracks = open;
        self.finish_all(ended)
    }

    /// Ends every open track (shutdown, camera removed or reconnected). Returns their passes.
    pub fn flush(&mut self) -> Vec<VehiclePass<C>> {
        let ended = std::mem::take(&mut self.tracks);
        self.finish_all(ended)
    }

    fn finish_all(&mut self, ended: Vec<Track<C>>) -> Vec<VehiclePass<C>> {
        ended.into_iter().filter_map(|t| self.finish(t)).collect()
    }

    fn finish(&mut self, track: Track<C>) -> Option<VehiclePass<C>> {
        if track.frames < self.config.min_frames {
            self.stats.dropped_min_frames += 1;
            return None;
        }
        let Some(voted) = self
            .priors
            .decide(&track.ballot, self.config.max_candidates)
        else {
            self.stats.dropped_no_text += 1;
            return None;
        };
        if voted.confidence < self.config.min_confidence {
            self.stats.dropped_min_confidence += 1;
            return None;
        }
        self.stats.passes += 1;
        Some(VehiclePass {
            camera: self.camera.clone(),
            track_id: track.id,
            agreeing_reads: track.reads_of(&voted.text),
            detector_score: track.detector_score,
            fits_format: self.priors.fits(&voted.text),
            text: voted.text,
            char_confidences: voted.char_confidences,
            confidence: voted.confidence,
            candidates: voted.candidates,
            prior_applied: voted.prior_applied,
            best_crop: track.best_crop,
            best_crop_confidence: track.best_confidence,
            best_quad: track.best_quad,
            best_crop_at: track.best_at,
            first_seen: track.first_seen,
            last_seen: track.last_seen,
            frames: track.frames,
            reads: track.ballot.reads(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::{PatternSet, PriorConfig};
    use crate::vote::tests::read;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
    }

    fn det(x: f32, y: f32, read: PlateText, crop: u32) -> Detection<u32> {
        Detection {
            candidate: Candidate::from_rect(x, y, 120.0, 30.0, 0.9),
            read,
            crop,
        }
    }

    fn tracker(config: TrackerConfig) -> Tracker<u32> {
        Tracker::new(
            CameraId::new("cam-1").unwrap(),
            config,
            FormatPriors::default(),
        )
        .unwrap()
    }

    #[test]
    fn one_vehicle_ten_frames_gives_one_pass_with_the_voted_text() {
        let mut tr = tracker(TrackerConfig::default());
        let mut passes = Vec::new();
        for i in 0..10u32 {
            let r = match i {
                // Three frames misread the `3` as `8`, fairly confidently.
                2 | 5 | 7 => read("ABC1234", 0.9, &[(5, '8', 0.7, &[('3', 0.2)])]),
                // The sharpest frame.
                6 => read("ABC1234", 0.99, &[]),
                _ => read("ABC1234", 0.9, &[(5, '3', 0.9, &[('8', 0.05)])]),
            };
            // Moving down and right, 12 px and 15 px a frame at 15 fps.
            let x = 200.0 + 12.0 * i as f32;
            let y = 100.0 + 15.0 * i as f32;
            passes.extend(tr.push(t(66 * u64::from(i)), [det(x, y, r, i)]));
        }
        assert!(passes.is_empty(), "nothing ends while the plate is in view");
        assert_eq!(tr.active_tracks(), 1);
        // Within the gap: still open.
        assert!(tr.push(t(66 * 9 + 900), []).is_empty());
        let passes = tr.push(t(66 * 9 + 1100), []);
        assert_eq!(passes.len(), 1);
        let p = &passes[0];
        assert_eq!(p.text, "ABC1234");
        assert_eq!(p.frames, 10);
        assert_eq!(p.reads, 10);
        assert_eq!(p.best_crop, 6);
        assert_eq!(p.first_seen, t(0));
        assert_eq!(p.last_seen, t(66 * 9));
        assert_eq!(p.candidates[0].text, "ABC1234");
        assert_eq!(p.candidates[1].text, "ABC1284");
        // (7 × 0.9 … with the sharp frame at 0.99, + 3 × 0.2) / 10
        let expected = (6.0 * 0.9 + 0.99 + 3.0 * 0.2) / 10.0;
        assert!(
            (p.char_confidences[5] - expected).abs() < 1e-4,
            "{:?}",
            p.char_confidences
        );
        assert!(p.confidence > 0.1 && p.confidence < 1.0);
        assert_eq!(p.fits_format, None);
        assert_eq!(tr.active_tracks(), 0);
        assert_eq!(tr.flush().len(), 0, "exactly one pass per track");
        assert_eq!(tr.stats().passes, 1);
    }

    #[test]
    fn adjacent_plates_stay_separate_even_when_a_box_jumps() {
        let mut tr = tracker(TrackerConfig::default());
        let mut passes = Vec::new();
        for i in 0..10u32 {
            let y = 100.0 + 10.0 * i as f32;
            let a = read("ABC1234", 0.9, &[]);
            let b = read("XYZ9876", 0.9, &[]);
            let dets = if i == 5 {
                // A's box jumps right onto B's, and B is not detected in this frame: by position
                // alone B's track would take A's detection.
                vec![det(165.0, y, a, 100 + i)]
            } else if i % 2 == 0 {
                vec![det(100.0, y, a, 100 + i), det(170.0, y, b, 200 + i)]
            } else {
                vec![det(170.0, y, b, 200 + i), det(100.0, y, a, 100 + i)]
            };
            passes.extend(tr.push(t(66 * u64::from(i)), dets));
        }
        passes.extend(tr.flush());
        assert_eq!(
            passes.len(),
            2,
            "{:?}",
            passes.iter().map(|p| &p.text).collect::<Vec<_>>()
        );
        let a = passes
            .iter()
            .find(|p| p.text == "ABC1234")
            .expect("A's pass");
        let b = passes
            .iter()
            .find(|p| p.text == "XYZ9876")
            .expect("B's pass");
        assert_eq!(a.frames, 10);
        assert_eq!(b.frames, 9);
        assert!((100..110).contains(&a.best_crop));
        assert!((200..210).contains(&b.best_crop));
        assert_eq!(tr.stats().tracks_started, 2);
    }

    #[test]
    fn a_plate_that_jumps_past_its_box_between_frames_keeps_its_track_if_it_reads_alike() {
        // Analysed at ~3 fps, a near plate (120 px wide) moves 150 px between frames: no
        // overlap with its last or predicted box (the motion also speeds up).
        let mut tr = tracker(TrackerConfig::default());
        for i in 0..5u32 {
            let x = 50.0 + 150.0 * i as f32 + 10.0 * (i * i) as f32;
            let text = if i == 2 { "BC1234" } else { "ABC1234" };
            tr.push(
                t(330 * u64::from(i)),
                [det(x, 100.0, read(text, 0.9, &[]), i)],
            );
        }
        // A different plate the same distance away does not join it.
        tr.push(t(1650), [det(900.0, 100.0, read("QRS5678", 0.9, &[]), 9)]);
        let passes = tr.flush();
        let texts: Vec<&str> = passes.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["ABC1234"], "QRS5678 has one frame only");
        assert_eq!(passes[0].frames, 5);
        assert_eq!(tr.stats().tracks_started, 2);

        // With jumps turned off the same plate splits into several tracks.
        let mut tr = tracker(TrackerConfig {
            max_jump: 0.0,
            ..TrackerConfig::default()
        });
        for i in 0..5u32 {
            let x = 50.0 + 150.0 * i as f32 + 10.0 * (i * i) as f32;
            tr.push(
                t(330 * u64::from(i)),
                [det(x, 100.0, read("ABC1234", 0.9, &[]), i)],
            );
        }
        assert!(tr.stats().tracks_started > 1);
    }

    #[test]
    fn a_different_plate_in_the_same_place_starts_a_new_track() {
        let mut tr = tracker(TrackerConfig::default());
        for i in 0..4u32 {
            tr.push(
                t(66 * u64::from(i)),
                [det(100.0, 100.0, read("ABC1234", 0.9, &[]), i)],
            );
        }
        for i in 4..8u32 {
            tr.push(
                t(66 * u64::from(i)),
                [det(100.0, 100.0, read("QRS5678", 0.9, &[]), i)],
            );
        }
        let mut passes = tr.flush();
        passes.sort_by_key(|p| p.track_id);
        let texts: Vec<&str> = passes.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["ABC1234", "QRS5678"]);
    }

    #[test]
    fn tracks_end_after_the_gap_in_time_not_frames() {
        let mut tr = tracker(TrackerConfig::default());
        for i in 0..3u32 {
            tr.push(
                t(100 * u64::from(i)),
                [det(100.0, 100.0, read("ABC1234", 0.9, &[]), i)],
            );
        }
        // Many empty frames inside the 1 s gap do not end the track.
        for ms in (210..=1200).step_by(10) {
            assert!(tr.push(t(ms), []).is_empty(), "ended early at {ms} ms");
        }
        assert_eq!(tr.active_tracks(), 1);
        // A camera that stops sending frames: `expire` ends the track.
        let passes = tr.expire(t(1201));
        assert_eq!(passes.len(), 1);
        assert_eq!(passes[0].text, "ABC1234");
        // A clock that steps back ends nothing and does not panic.
        tr.push(t(5000), [det(0.0, 0.0, read("ABC1234", 0.9, &[]), 9)]);
        assert!(tr.push(t(10), []).is_empty());
    }

    #[test]
    fn short_and_unsure_tracks_are_dropped_and_counted() {
        let mut tr = tracker(TrackerConfig::default());
        for i in 0..2u32 {
            tr.push(
                t(66 * u64::from(i)),
                [det(100.0, 100.0, read("ABC1234", 0.9, &[]), i)],
            );
        }
        // Far away, three frames, but every character unsure.
        for i in 0..3u32 {
            tr.push(
                t(66 * u64::from(i + 2)),
                [det(600.0, 400.0, read("XYZ9876", 0.5, &[]), i)],
            );
        }
        assert!(tr.flush().is_empty());
        let s = tr.stats();
        assert_eq!(s.dropped_min_frames, 1);
        assert_eq!(s.dropped_min_confidence, 1);
        assert_eq!(s.passes, 0);

        let mut tr = tracker(TrackerConfig {
            min_frames: 2,
            min_confidence: 0.0,
            ..TrackerConfig::default()
        });
        for i in 0..2u32 {
            tr.push(
                t(66 * u64::from(i)),
                [det(100.0, 100.0, read("ABC1234", 0.9, &[]), i)],
            );
        }
        assert_eq!(tr.flush().len(), 1);
    }

    #[test]
    fn priors_apply_to_passes() {
        let priors = FormatPriors::new(&PriorConfig {
            regions: vec![PatternSet::BrOld],
            ..PriorConfig::default()
        })
        .unwrap();
        // The repaired character's own score is low; this test is about the priors, not the
        // confidence floor.
        let mut tr = Tracker::new(
            CameraId::new("sp-1").unwrap(),
            TrackerConfig {
                min_confidence: 0.1,
                ..TrackerConfig::default()
            },
            priors,
        )
        .unwrap();
        for i in 0..5u32 {
            let r = read("ABC1034", 0.95, &[(4, 'O', 0.6, &[('0', 0.35)])]);
            tr.push(t(66 * u64::from(i)), [det(100.0, 100.0, r, i)]);
        }
        let p = tr.flush().pop().unwrap();
        assert_eq!(p.text, "ABC1034");
        assert_eq!(p.fits_format, Some(true));
        assert!(p.prior_applied);
    }

    #[test]
    fn capacity_is_bounded() {
        let mut tr = tracker(TrackerConfig {
            max_tracks: 2,
            ..TrackerConfig::default()
        });
        let dets = (0..5u32).map(|i| det(200.0 * i as f32, 0.0, read("ABC1234", 0.9, &[]), i));
        tr.push(t(0), dets);
        assert_eq!(tr.active_tracks(), 2);
        assert_eq!(tr.stats().dropped_over_capacity, 3);
    }

    #[test]
    fn config_is_strict_and_validated() {
        let c: TrackerConfig = toml::from_str("").unwrap();
        assert_eq!(c, TrackerConfig::default());
        let c: TrackerConfig = toml::from_str("max_gap_ms = 1500\nmin_frames = 2").unwrap();
        assert_eq!((c.max_gap_ms, c.min_frames), (1500, 2));
        assert!(toml::from_str::<TrackerConfig>("max_gap = 1500").is_err());
        let bad = TrackerConfig {
            min_iou: 1.5,
            ..TrackerConfig::default()
        };
        assert_eq!(
            bad.validate(),
            Err(TrackerConfigError::OutOfUnitRange {
                key: "min_iou",
                value: 1.5
            })
        );
        let bad = TrackerConfig {
            min_frames: 0,
            ..TrackerConfig::default()
        };
        assert!(
            Tracker::<u32>::new(CameraId::new("c").unwrap(), bad, FormatPriors::default()).is_err()
        );
    }
}
