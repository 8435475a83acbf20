//! From the detector's output to candidates, shared by both backends: score threshold, box
//! decoding, size filter per level, NMS across levels. It runs on the CPU for both backends:
//! the head maps are small and the work branches per cell.

use custos_core::{Candidate, iou};

use crate::{DetectParams, Tensor};

/// Candidates from the head tensors of one frame (`(level, head)` pairs), in frame coordinates,
/// best first.
pub fn decode(
    heads: &[(u32, &Tensor)],
    frame_w: u32,
    frame_h: u32,
    p: &DetectParams,
) -> Vec<Candidate> {
    let m = &p.model;
    let logit_min = logit(p.threshold);
    let mut all = Vec::new();
    for &(level, head) in heads {
        let scale = (1u32 << level) as f32;
        let (w, plane) = (head.width as usize, head.plane_len());
        let ch = |c: usize| &head.data[c * plane..(c + 1) * plane];
        let (score, left, top, right, bottom) = (ch(0), ch(1), ch(2), ch(3), ch(4));
        for (i, &s) in score.iter().enumerate() {
            if s < logit_min {
                continue;
            }
            // Cell (x, y) looks at level pixel (x·stride, y·stride); +0.5 for its centre.
            let cx = (i % w) as f32 * m.stride as f32 + 0.5;
            let cy = (i / w) as f32 * m.stride as f32 + 0.5;
            let d = |v: f32| v.max(0.0) * m.box_scale;
            let (l, t, r, b) = (d(left[i]), d(top[i]), d(right[i]), d(bottom[i]));
            if !(m.min_height..=m.max_height).contains(&(t + b)) {
                continue;
            }
            let x0 = ((cx - l) * scale).clamp(0.0, frame_w as f32);
            let y0 = ((cy - t) * scale).clamp(0.0, frame_h as f32);
            let x1 = ((cx + r) * scale).clamp(0.0, frame_w as f32);
            let y1 = ((cy + b) * scale).clamp(0.0, frame_h as f32);
            if x1 - x0 < 1.0 || y1 - y0 < 1.0 {
                continue;
            }
            all.push(Candidate::from_rect(x0, y0, x1 - x0, y1 - y0, sigmoid(s)));
        }
    }
    nms(all, p.nms_iou, p.max_candidates)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The logit whose sigmoid is `p` (comparing logits skips an exp per cell).
fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Keeps the best candidates, dropping any that overlaps a kept one by more than `max_iou`.
/// Each kept box becomes the score-weighted mean of itself and the boxes it suppressed that
/// overlap it by at least [`VOTE_IOU`] (box voting): one cell's regression can overshoot a
/// plate's edge, its neighbours' rarely all do the same.
pub fn nms(mut cands: Vec<Candidate>, max_iou: f32, limit: usize) -> Vec<Candidate> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Per kept candidate: its own box, the weighted sum of its voters' boxes, their weight.
    let mut kept: Vec<(Candidate, [f32; 4], f32)> = Vec::new();
    for c in cands {
        let b = c.bbox();
        let n_kept = kept.len();
        match kept.iter_mut().find(|(k, ..)| iou(k.bbox(), b) > max_iou) {
            Some((k, sum, weight)) if iou(k.bbox(), b) >= VOTE_IOU => {
                for (s, v) in sum.iter_mut().zip(b) {
                    *s += c.score * v;
                }
                *weight += c.score;
            }
            Some(_) => {}
            None if n_kept < limit => kept.push((c, b.map(|v| c.score * v), c.score)),
            None => {}
        }
    }
    kept.into_iter()
        .map(|(k, sum, weight)| {
            let [x0, y0, x1, y1] = sum.map(|v| v / weight);
            Candidate::from_rect(x0, y0, x1 - x0, y1 - y0, k.score)
        })
        .collect()
}

/// Suppressed boxes at least this close to a kept one vote on its edges.
const VOTE_IOU: f32 = 0.5;

#[cfg(test)]
mod tests {
    use super::*;

    /// A head with one confident cell at (`x`, `y`) predicting the given edge distances.
    fn head_with(w: u32, h: u32, cells: &[(u32, u32, [f32; 4])]) -> Tensor {
        let mut t = Tensor::zeros(5, w, h);
        t.data[..(w * h) as usize].fill(-10.0);
        let plane = (w * h) as usize;
        for &(x, y, ltrb) in cells {
            let i = (y * w + x) as usize;
            t.data[i] = 4.0;
            for (c, v) in ltrb.iter().enumerate() {
                t.data[(c + 1) * plane + i] = *v;
            }
        }
        t
    }

    #[test]
    fn decodes_boxes_into_frame_coordinates() {
        let p = DetectParams::default();
        let (stride, scale) = (p.model.stride as f32, p.model.box_scale);
        // Cell (3, 2) at level 2: centre (3·stride + 0.5, 2·stride + 0.5) level px; a box
        // 20 px left, 6 up, 30 right, 4 down of it (in level px), ×4 into the frame.
        let head = head_with(
            8,
            6,
            &[(3, 2, [20.0 / scale, 6.0 / scale, 30.0 / scale, 4.0 / scale])],
        );
        let cands = decode(&[(2, &head)], 1000, 1000, &p);
        assert_eq!(cands.len(), 1);
        let (cx, cy) = (3.0 * stride + 0.5, 2.0 * stride + 0.5);
        let want = [
            (cx - 20.0) * 4.0,
            (cy - 6.0) * 4.0,
            (cx + 30.0) * 4.0,
            (cy + 4.0) * 4.0,
        ];
        let got = cands[0].bbox();
        assert!(
            got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-3),
            "{got:?} vs {want:?}"
        );
        assert!(cands[0].score > 0.95);
    }

    #[test]
    fn leaves_out_of_range_heights_and_weak_cells() {
        let p = DetectParams::default();
        let too_tall = (p.model.max_height + 4.0) / p.model.box_scale;
        let head = head_with(8, 6, &[(1, 1, [1.0, too_tall / 2.0, 1.0, too_tall / 2.0])]);
        assert!(decode(&[(1, &head)], 500, 500, &p).is_empty());
        let weak = Tensor::zeros(5, 8, 6); // logit 0: score 0.5, but every box is empty
        assert!(decode(&[(1, &weak)], 500, 500, &p).is_empty());
    }

    #[test]
    fn nms_drops_overlaps_and_limits() {
        let a = Candidate::from_rect(0.0, 0.0, 10.0, 10.0, 0.9);
        let c = Candidate::from_rect(50.0, 0.0, 10.0, 10.0, 0.7);
        // Overlaps `a` by 0.43: suppressed, but too far off to vote.
        let b = Candidate::from_rect(4.0, 0.0, 10.0, 10.0, 0.8);
        let kept = nms(vec![c, b, a], 0.4, 10);
        assert_eq!(kept, vec![a, c]);
        assert_eq!(nms(vec![a, c], 0.4, 1), vec![a]);
    }

    #[test]
    fn suppressed_neighbours_vote_on_the_kept_box() {
        // The best cell overshoots the right edge; two close neighbours do not.
        let best = Candidate::from_rect(0.0, 0.0, 14.0, 10.0, 0.9);
        let n1 = Candidate::from_rect(0.0, 0.0, 10.0, 10.0, 0.8);
        let n2 = Candidate::from_rect(1.0, 0.0, 10.0, 10.0, 0.7);
        let kept = nms(vec![n2, best, n1], 0.4, 10);
        assert_eq!(kept.len(), 1);
        let [x0, _, x1, _] = kept[0].bbox();
        let mean = |v: [f32; 3]| (0.9 * v[0] + 0.8 * v[1] + 0.7 * v[2]) / 2.4;
        assert!((x0 - mean([0.0, 0.0, 1.0])).abs() < 1e-4, "{x0}");
        assert!((x1 - mean([14.0, 10.0, 11.0])).abs() < 1e-4, "{x1}");
        assert_eq!(kept[0].score, 0.9, "the kept box keeps its own score");
    }
}
