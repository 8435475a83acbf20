//! A plate candidate found by the localisation kernels: where it is in the frame and how sure the
//! detector is, in a form the OCR and tracking stages can use without knowing the detector.

use serde::{Deserialize, Serialize};

/// A quadrilateral in frame pixel coordinates, corners in the order top-left, top-right,
/// bottom-right, bottom-left (clockwise in image coordinates, y down). A quad rather than a box so
/// that a detector may report tilted or perspective-distorted plates; the crop kernels straighten
/// it.
pub type Quad = [[f32; 2]; 4];

/// One plate candidate in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The plate's corners in frame pixels: top-left, top-right, bottom-right, bottom-left.
    pub quad: Quad,
    /// Detector confidence; larger is more plate-like. Only comparable within one detector.
    pub score: f32,
}

impl Candidate {
    /// An axis-aligned candidate from a box given by its top-left corner and size.
    pub fn from_rect(x: f32, y: f32, w: f32, h: f32, score: f32) -> Self {
        Self {
            quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
            score,
        }
    }

    /// The smallest axis-aligned box holding the quad, as `[x0, y0, x1, y1]`.
    pub fn bbox(&self) -> [f32; 4] {
        let mut b = [
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ];
        for [x, y] in self.quad {
            b[0] = b[0].min(x);
            b[1] = b[1].min(y);
            b[2] = b[2].max(x);
            b[3] = b[3].max(y);
        }
        b
    }

    /// Intersection over union of the two candidates' bounding boxes (0 when either is empty).
    pub fn iou(&self, other: &Candidate) -> f32 {
        iou(self.bbox(), other.bbox())
    }
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes; 0 when either is empty.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_bbox_and_iou() {
        let a = Candidate::from_rect(10.0, 20.0, 40.0, 10.0, 1.0);
        assert_eq!(a.bbox(), [10.0, 20.0, 50.0, 30.0]);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        let b = Candidate::from_rect(30.0, 20.0, 40.0, 10.0, 1.0);
        // Overlap 20×10 = 200, union 400 + 400 − 200 = 600.
        assert!((a.iou(&b) - 200.0 / 600.0).abs() < 1e-6);
        let far = Candidate::from_rect(100.0, 100.0, 5.0, 5.0, 1.0);
        assert_eq!(a.iou(&far), 0.0);
        assert_eq!(iou([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]), 0.0);
    }
}
