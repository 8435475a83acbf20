//! The OCR batch: crop layout and which candidate goes into which slot.

use custos_core::Candidate;

use crate::KernelError;

/// Layout of one OCR input crop: grayscale, `height × width` floats, NCHW with C = 1, each pixel
/// `(v / 255 − mean) / std`. The OCR issue fixes the size; the kernels take any.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropSpec {
    pub width: u32,
    pub height: u32,
    pub mean: f32,
    pub std: f32,
    /// Extra context around the quad, as a share of its width and height on each side, so that
    /// a slightly tight box does not cut characters off.
    pub margin: f32,
}

impl Default for CropSpec {
    fn default() -> Self {
        Self {
            width: 128,
            height: 32,
            mean: 0.5,
            std: 0.5,
            margin: 0.05,
        }
    }
}

impl CropSpec {
    pub fn floats_per_crop(&self) -> usize {
        self.width as usize * self.height as usize
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        if self.width == 0 || self.height == 0 || self.width > 4096 || self.height > 4096 {
            return Err(KernelError::BadCropSize {
                width: self.width,
                height: self.height,
            });
        }
        if !(self.std.is_finite() && self.std > 0.0) {
            return Err(KernelError::BadCropStd(self.std));
        }
        Ok(())
    }

    /// How many crops fit a buffer of `len` floats.
    pub fn capacity(&self, len: usize) -> usize {
        len / self.floats_per_crop().max(1)
    }

    /// Checks that `slots` crops fit a buffer of `len` floats.
    pub fn check_buffer(&self, slots: usize, len: usize) -> Result<(), KernelError> {
        let need = slots.saturating_mul(self.floats_per_crop());
        if need > len {
            return Err(KernelError::BatchTooSmall {
                len,
                need,
                slots,
                width: self.width,
                height: self.height,
            });
        }
        Ok(())
    }
}

/// One crop to make: the quad of frame `frame` goes into batch slot `slot`
/// (floats `slot·H·W .. (slot+1)·H·W`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropJob {
    pub frame: usize,
    pub slot: usize,
    pub candidate: Candidate,
}

/// What one batch produced: every frame's candidates (best first) and the crops written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOutput {
    pub candidates: Vec<Vec<Candidate>>,
    pub crops: Vec<CropJob>,
    /// Candidates that found no free slot in the batch buffer.
    pub dropped: usize,
}

/// Assigns slots to candidates, frame by frame and best first, until the buffer is full: a full
/// buffer drops the rest (counted) rather than failing the whole batch.
pub fn assign_slots(candidates: &[Vec<Candidate>], capacity: usize) -> (Vec<CropJob>, usize) {
    let mut jobs = Vec::new();
    let mut dropped = 0;
    for (frame, cands) in candidates.iter().enumerate() {
        for c in cands {
            if jobs.len() < capacity {
                jobs.push(CropJob {
                    frame,
                    slot: jobs.len(),
                    candidate: *c,
                });
            } else {
                dropped += 1;
            }
        }
    }
    (jobs, dropped)
}

/// Checks that every job names a frame of the batch and a slot inside the buffer.
pub fn check_jobs(
    jobs: &[CropJob],
    frames: usize,
    spec: &CropSpec,
    len: usize,
) -> Result<(), KernelError> {
    spec.validate()?;
    let slots = jobs.iter().map(|j| j.slot + 1).max().unwrap_or(0);
    spec.check_buffer(slots, len)?;
    for (job, j) in jobs.iter().enumerate() {
        if j.frame >= frames {
            return Err(KernelError::NoSuchFrame {
                job,
                frame: j.frame,
                frames,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_in_order_and_drop_the_rest() {
        let c = Candidate::from_rect(0.0, 0.0, 10.0, 5.0, 1.0);
        let (jobs, dropped) = assign_slots(&[vec![c, c], vec![], vec![c, c]], 3);
        assert_eq!(jobs.len(), 3);
        assert_eq!(dropped, 1);
        assert_eq!((jobs[2].frame, jobs[2].slot), (2, 2));
    }

    #[test]
    fn buffer_and_spec_checks() {
        let spec = CropSpec::default();
        assert!(spec.check_buffer(2, 2 * 128 * 32).is_ok());
        assert!(matches!(
            spec.check_buffer(3, 2 * 128 * 32),
            Err(KernelError::BatchTooSmall { .. })
        ));
        assert!(CropSpec { width: 0, ..spec }.validate().is_err());
        assert!(CropSpec { std: 0.0, ..spec }.validate().is_err());
        let job = CropJob {
            frame: 4,
            slot: 0,
            candidate: Candidate::from_rect(0.0, 0.0, 1.0, 1.0, 0.0),
        };
        assert!(matches!(
            check_jobs(&[job], 2, &spec, 4096),
            Err(KernelError::NoSuchFrame { .. })
        ));
    }
}
