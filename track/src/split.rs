//! Split-pass merging: one vehicle whose track was split in two (the plate lost for longer than
//! the tracker's gap, then found again, often with a character cut off) is one pass.
//!
//! A camera's ended passes are held for the tracker's gap plus the merge gap after their last
//! read; a pass of the same plate that ends meanwhile is folded into the held one, and a read in
//! the meantime that looks like a held pass' text keeps it held (its vehicle may still be in
//! view under a new track).

use std::time::{Duration, SystemTime};

use custos_core::levenshtein;

use crate::confusion::similarity;
use crate::tracker::VehiclePass;

/// A pass held back for a while in case its vehicle's track was split in two.
#[derive(Debug)]
struct Held<C> {
    pass: VehiclePass<C>,
    /// Frame time of the last read that looked like this pass' text.
    refreshed: SystemTime,
}

/// One camera's held passes.
#[derive(Debug)]
pub struct SplitMerger<C> {
    /// Passes of one plate this close in frame time are merged (zero: never, and nothing is
    /// held).
    merge_gap: Duration,
    /// How long after its last look-alike read a pass is held: the tracker's gap plus the merge
    /// gap.
    hold: Duration,
    held: Vec<Held<C>>,
}

impl<C: Clone> SplitMerger<C> {
    /// A merger for a camera whose tracker ends tracks after `max_gap` without a detection.
    pub fn new(merge_gap: Duration, max_gap: Duration) -> Self {
        Self {
            merge_gap,
            hold: max_gap + merge_gap,
            held: Vec::new(),
        }
    }

    /// A frame at `at` read `texts`: a held pass that one of them looks like stays held.
    pub fn seen<'a>(&mut self, at: SystemTime, texts: impl IntoIterator<Item = &'a str> + Clone) {
        for h in &mut self.held {
            if texts
                .clone()
                .into_iter()
                .any(|t| similarity(t, &h.pass.text) >= 0.7)
            {
                h.refreshed = h.refreshed.max(at);
            }
        }
    }

    /// Takes a pass the tracker ended. Returns it back at once when merging is off; otherwise
    /// holds it (`None`) and says whether it was merged into an earlier held pass.
    pub fn push(&mut self, pass: VehiclePass<C>) -> Pushed<C> {
        if self.merge_gap.is_zero() {
            return Pushed::Ready(pass);
        }
        let gap = self.merge_gap;
        let earlier = self.held.iter_mut().find(|h| {
            pass.first_seen <= h.pass.last_seen + gap
                && h.pass.first_seen <= pass.last_seen + gap
                && same_plate(&h.pass.text, &pass.text)
        });
        match earlier {
            Some(h) => {
                h.refreshed = h.refreshed.max(pass.last_seen);
                merge(&mut h.pass, pass);
                Pushed::Merged
            }
            None => {
                let refreshed = pass.last_seen;
                self.held.push(Held { pass, refreshed });
                Pushed::Held
            }
        }
    }

    /// The held passes whose time has come at `now` (the camera's frame time), in order.
    pub fn due(&mut self, now: SystemTime) -> Vec<VehiclePass<C>> {
        let hold = self.hold;
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| now >= h.refreshed + hold);
        self.held = keep;
        due.into_iter().map(|h| h.pass).collect()
    }

    /// Every held pass (the camera stops).
    pub fn drain(&mut self) -> Vec<VehiclePass<C>> {
        std::mem::take(&mut self.held)
            .into_iter()
            .map(|h| h.pass)
            .collect()
    }
}

/// What [`SplitMerger::push`] did with a pass.
// Returned by value and matched at once: boxing the pass would allocate for every pass.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Pushed<C> {
    /// Merging is off: the pass goes on now.
    Ready(VehiclePass<C>),
    /// Held, in case a later pass is the same vehicle.
    Held,
    /// Folded into an earlier held pass of the same plate.
    Merged,
}

/// Whether two passes' texts are one plate read twice: the same text, one a part (at least
/// four characters) of the other, as when a track split while the plate was partly cut off, or
/// one the other with a single character dropped (at least five left: "GG1310" for "GGJ1310").
/// Deliberately strict otherwise: two vehicles with plates one substitution apart (a fleet,
/// "ABC1234" and "ABC1235") in a row must stay two passes.
pub fn same_plate(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let (ns, nl) = (short.chars().count(), long.chars().count());
    (ns >= 4 && long.contains(short)) || (ns >= 5 && nl == ns + 1 && levenshtein(short, long) == 1)
}

/// Folds `later` into `into`: the text of the more complete pass — the longer one, since the
/// shorter is the same plate with characters cut off — unless the longer is barely supported
/// (reads × confidence under a quarter of the other's); the best crop of either; the union of
/// their times and counts.
pub fn merge<C: Clone>(into: &mut VehiclePass<C>, later: VehiclePass<C>) {
    let support = |p: &VehiclePass<C>| p.reads as f32 * p.confidence;
    let (len_into, len_later) = (into.text.chars().count(), later.text.chars().count());
    let later_wins = if len_later == len_into {
        support(&later) > support(into)
    } else if len_later > len_into {
        support(&later) >= 0.25 * support(into)
    } else {
        support(into) < 0.25 * support(&later)
    };
    let best_crop_later = later.best_crop_confidence > into.best_crop_confidence;
    let first_seen = into.first_seen.min(later.first_seen);
    let last_seen = into.last_seen.max(later.last_seen);
    let frames = into.frames + later.frames;
    let reads = into.reads + later.reads;
    let agreeing_reads = if into.text == later.text {
        into.agreeing_reads + later.agreeing_reads
    } else if later_wins {
        later.agreeing_reads
    } else {
        into.agreeing_reads
    };
    let detector_score = into.detector_score.max(later.detector_score);
    let track_id = into.track_id.min(later.track_id);
    let (crop, crop_conf, quad, crop_at) = if best_crop_later {
        (
            later.best_crop.clone(),
            later.best_crop_confidence,
            later.best_quad,
            later.best_crop_at,
        )
    } else {
        (
            into.best_crop.clone(),
            into.best_crop_confidence,
            into.best_quad,
            into.best_crop_at,
        )
    };
    let mut candidates = into.candidates.clone();
    if later_wins {
        candidates = later.candidates.clone();
        candidates.append(&mut into.candidates);
        *into = later;
    } else {
        candidates.extend(later.candidates);
    }
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.text.clone()));
    into.candidates = candidates;
    into.first_seen = first_seen;
    into.last_seen = last_seen;
    into.frames = frames;
    into.reads = reads;
    into.agreeing_reads = agreeing_reads;
    into.detector_score = detector_score;
    into.track_id = track_id;
    into.best_crop = crop;
    into.best_crop_confidence = crop_conf;
    into.best_quad = quad;
    into.best_crop_at = crop_at;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::TextCandidate;
    use custos_core::CameraId;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    /// A pass whose crop is its read count, so a test can tell which crop was kept.
    fn pass(text: &str, from_ms: u64, to_ms: u64, reads: u32, crop_conf: f32) -> VehiclePass<u8> {
        VehiclePass {
            camera: CameraId::new("cam0").unwrap(),
            track_id: from_ms,
            text: text.into(),
            char_confidences: vec![0.9; text.len()],
            confidence: 0.8,
            candidates: vec![TextCandidate {
                text: text.into(),
                score: 0.8,
                fits_format: None,
            }],
            fits_format: None,
            prior_applied: false,
            best_crop: reads as u8,
            best_crop_confidence: crop_conf,
            best_quad: [[0.0; 2]; 4],
            best_crop_at: t(from_ms),
            first_seen: t(from_ms),
            last_seen: t(to_ms),
            frames: reads,
            reads,
            agreeing_reads: reads,
            detector_score: 0.9,
        }
    }

    #[test]
    fn split_passes_of_one_plate_merge_and_fleets_do_not() {
        assert!(same_plate("TNG1956", "NG1956"));
        assert!(same_plate("ABC1234", "ABC1234"));
        assert!(
            !same_plate("ABC1234", "ABC1235"),
            "consecutive fleet plates"
        );
        assert!(!same_plate("ABC1234", "234"), "too short to tell");
        assert!(same_plate("GGJ1310", "GG1310"), "one character dropped");
        assert!(!same_plate("GGJ1310", "GG131"), "two dropped");
        assert!(!same_plate("AB1", "AB12"), "too short to tell");
        assert!(!same_plate("AB12X", "AB123"), "a substitution");

        let mut a = pass("NG1956", 0, 1400, 8, 0.9);
        merge(&mut a, pass("TNG1956", 2900, 4000, 3, 0.7));
        assert_eq!(a.text, "TNG1956", "the more complete text wins");
        assert_eq!(a.frames, 11);
        assert_eq!(a.track_id, 0);
        assert_eq!(a.first_seen, pass("", 0, 0, 0, 0.0).first_seen);
        assert_eq!(a.last_seen, pass("", 4000, 4000, 0, 0.0).first_seen);
        assert_eq!(a.best_crop, 8, "the sharper crop is kept");
        let mut b = pass("ABC1234", 0, 1400, 1, 0.5);
        merge(&mut b, pass("ABC123", 1500, 4000, 9, 0.9));
        assert_eq!(b.text, "ABC123", "…unless it is barely supported");
        let texts: Vec<&str> = a.candidates.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["TNG1956", "NG1956"]);
    }

    #[test]
    fn held_passes_merge_and_are_released_after_the_hold() {
        let gap = Duration::from_secs(1);
        let mut m = SplitMerger::new(Duration::from_secs(2), gap);
        assert!(matches!(
            m.push(pass("TNG1956", 0, 600, 5, 0.9)),
            Pushed::Held
        ));
        assert!(matches!(
            m.push(pass("NG1956", 2100, 2600, 5, 0.9)),
            Pushed::Merged
        ));
        assert!(matches!(
            m.push(pass("XYZ987", 2100, 2600, 5, 0.9)),
            Pushed::Held
        ));
        // A look-alike read keeps the first held; the other's hold ends 3 s after its last read.
        m.seen(t(3000), ["TNG1956"]);
        assert!(m.due(t(5599)).is_empty());
        let due: Vec<String> = m.due(t(5600)).into_iter().map(|p| p.text).collect();
        assert_eq!(due, ["XYZ987"]);
        assert_eq!(m.drain().len(), 1);
        let mut off = SplitMerger::new(Duration::ZERO, gap);
        assert!(matches!(
            off.push(pass("ABC1234", 0, 1, 1, 0.5)),
            Pushed::Ready(_)
        ));
    }
}
