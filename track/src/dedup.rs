//! One detection per plate in a frame. The detector may put several overlapping boxes on one
//! plate (a whole-plate box and a part of it, boxes NMS let through); each would read the same
//! text and the tracker, which gives a track at most one detection per frame, would open a
//! second track and emit the vehicle twice.

use crate::confusion::similarity;
use crate::tracker::Detection;

/// Keeps the most confident read of each overlapping group: boxes that largely cover one
/// another (two plates never do), or that touch and read alike.
pub fn one_per_plate<C>(mut dets: Vec<Detection<C>>) -> Vec<Detection<C>> {
    if dets.len() < 2 {
        return dets;
    }
    dets.sort_by(|a, b| b.read.confidence.total_cmp(&a.read.confidence));
    let mut kept: Vec<Detection<C>> = Vec::with_capacity(dets.len());
    for d in dets {
        let b = d.candidate.bbox();
        let same = kept.iter().any(|k| {
            let (cover, touch) = overlap(k.candidate.bbox(), b);
            cover >= 0.3 || (touch && similarity(&k.read.text, &d.read.text) >= 0.5)
        });
        if !same {
            kept.push(d);
        }
    }
    kept
}

/// (intersection over the smaller box, whether they intersect at all) of two `[x0, y0, x1, y1]`.
fn overlap(a: [f32; 4], b: [f32; 4]) -> (f32, bool) {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let smaller = area(a).min(area(b));
    let cover = if smaller > 0.0 { inter / smaller } else { 0.0 };
    (cover, inter > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::{Candidate, CharRead, PlateText};

    fn det(x: f32, w: f32, text: &str, confidence: f32) -> Detection<()> {
        let chars = text
            .chars()
            .map(|ch| CharRead {
                ch,
                confidence,
                alternatives: Vec::new(),
            })
            .collect();
        Detection {
            candidate: Candidate::from_rect(x, 100.0, w, 30.0, 0.5),
            read: PlateText::from_chars(chars),
            crop: (),
        }
    }

    #[test]
    fn one_detection_per_plate_in_a_frame() {
        let kept = one_per_plate(vec![
            // A partial box inside the plate's box, read less surely: dropped.
            det(130.0, 60.0, "C1234", 0.8),
            det(100.0, 120.0, "ABC1234", 0.95),
            // Touching and reading alike: the same plate.
            det(210.0, 120.0, "ABC1284", 0.7),
            // A different plate elsewhere, and one that touches but reads otherwise: kept.
            det(400.0, 120.0, "XYZ9876", 0.9),
            det(515.0, 120.0, "QQ55", 0.6),
        ]);
        let texts: Vec<&str> = kept.iter().map(|d| d.read.text.as_str()).collect();
        assert_eq!(texts, ["ABC1234", "XYZ9876", "QQ55"]);
    }
}
