//! Detector parameters. Defaults are chosen from plate geometry (plates are 2–5× wider than
//! tall, characters make dense vertical strokes), not fitted to any one data set.

use crate::KernelError;

/// How the classical detector looks for plates. Units are pixels of the pyramid level the
/// detector runs on, so the same numbers find plates of every size across levels.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectParams {
    /// Pyramid levels to search (level k is 2^k times smaller than the frame). Level 1 finds
    /// plates about 12–40 px tall in the frame, level 2 about 24–80, level 3 about 48–160.
    pub levels: Vec<u32>,
    /// Horizontal gradients are clipped here (grey levels per pixel) so that one strong edge
    /// (a bumper, a shadow) counts less than the many strokes of a row of characters.
    pub grad_clip: f32,
    /// Half-width and half-height of the box filter that turns edges into edge density.
    pub window_rx: u32,
    pub window_ry: u32,
    /// Density thresholds; each gives its own connected components, so a plate merged with its
    /// surroundings at a low threshold separates at a higher one.
    pub thresholds: Vec<f32>,
    /// Accepted box width / height (at the level, before scaling).
    pub min_aspect: f32,
    pub max_aspect: f32,
    /// Smallest and largest accepted box height at the level.
    pub min_height: u32,
    pub max_height: u32,
    /// Share of the box that the component must fill.
    pub min_fill: f32,
    /// Candidates overlapping a better one by more than this IoU are dropped.
    pub nms_iou: f32,
    /// At most this many candidates per frame, best first.
    pub max_candidates: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self {
            levels: vec![1, 2, 3],
            grad_clip: 48.0,
            window_rx: 4,
            window_ry: 1,
            thresholds: vec![12.0, 18.0, 26.0],
            min_aspect: 1.6,
            max_aspect: 8.0,
            min_height: 4,
            max_height: 40,
            min_fill: 0.45,
            nms_iou: 0.4,
            max_candidates: 10,
        }
    }
}

impl DetectParams {
    /// The deepest pyramid level the detector needs.
    pub fn max_level(&self) -> u32 {
        self.levels.iter().copied().max().unwrap_or(0)
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        let bad = |s: &str| Err(KernelError::BadParams(s.to_string()));
        if self.levels.iter().any(|&l| l == 0 || l > 8) {
            return bad("levels must be between 1 and 8");
        }
        if !(self.grad_clip.is_finite() && self.grad_clip > 0.0) {
            return bad("grad_clip must be positive");
        }
        if self.window_rx > 32 || self.window_ry > 32 {
            return bad("window radii must be at most 32");
        }
        if self.thresholds.iter().any(|t| !t.is_finite()) {
            return bad("thresholds must be finite");
        }
        if !(self.min_aspect > 0.0 && self.min_aspect <= self.max_aspect) {
            return bad("need 0 < min_aspect ≤ max_aspect");
        }
        if self.min_height > self.max_height {
            return bad("need min_height ≤ max_height");
        }
        Ok(())
    }
}
