//! Detector parameters: the network and how its output becomes candidates.

use std::sync::Arc;

use crate::KernelError;
use crate::detector::DetectorModel;

#[derive(Clone, Debug, PartialEq)]
pub struct DetectParams {
    /// The network (see `models/train_detector.py`).
    pub model: Arc<DetectorModel>,
    /// Cells scoring below this (0–1) are not plates.
    pub threshold: f32,
    /// Candidates overlapping a better one by more than this IoU are dropped.
    pub nms_iou: f32,
    /// At most this many candidates per frame, best first.
    pub max_candidates: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self::with_model(DetectorModel::bundled())
    }
}

impl DetectParams {
    /// Default thresholds with another network.
    pub fn with_model(model: DetectorModel) -> Self {
        Self {
            model: Arc::new(model),
            threshold: 0.5,
            nms_iou: 0.4,
            max_candidates: 10,
        }
    }

    /// The deepest pyramid level the detector needs.
    pub fn max_level(&self) -> u32 {
        self.model.max_level()
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        let bad = |s: &str| Err(KernelError::BadParams(s.to_string()));
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return bad("threshold must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return bad("nms_iou must be between 0 and 1");
        }
        if self.max_candidates == 0 {
            return bad("max_candidates must be at least 1");
        }
        Ok(())
    }
}
