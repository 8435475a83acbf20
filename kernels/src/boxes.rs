//! Box extraction, shared by both backends: edge-density maps in, scored plate candidates in
//! frame coordinates out (thresholds → connected components → shape filters → NMS). It runs on
//! the CPU for both backends because it works on small maps and branches per component.

use custos_core::{Candidate, iou};

use crate::{DetectParams, Map};

/// One connected region of a thresholded map, in map pixels (bounds inclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Component {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    pub count: u32,
    pub sum: f32,
}

impl Component {
    pub fn width(&self) -> u32 {
        self.x1 - self.x0 + 1
    }

    pub fn height(&self) -> u32 {
        self.y1 - self.y0 + 1
    }
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        // Path halving keeps the trees flat without recursion.
        let p = parent[parent[i as usize] as usize];
        parent[i as usize] = p;
        i = p;
    }
    i
}

/// 4-connected components of the pixels `≥ threshold`, in no particular order.
pub fn components(map: &Map, threshold: f32) -> Vec<Component> {
    let (w, h) = (map.width as usize, map.height as usize);
    const NONE: u32 = u32::MAX;
    let mut labels = vec![NONE; w * h];
    let mut parent: Vec<u32> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if map.data[i] < threshold {
                continue;
            }
            let left = if x > 0 { labels[i - 1] } else { NONE };
            let up = if y > 0 { labels[i - w] } else { NONE };
            labels[i] = match (left, up) {
                (NONE, NONE) => {
                    parent.push(parent.len() as u32);
                    parent.len() as u32 - 1
                }
                (l, NONE) | (NONE, l) => l,
                (l, u) => {
                    let (rl, ru) = (find(&mut parent, l), find(&mut parent, u));
                    let root = rl.min(ru);
                    parent[rl.max(ru) as usize] = root;
                    root
                }
            };
        }
    }
    let mut slot = vec![NONE; parent.len()];
    let mut out: Vec<Component> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if labels[i] == NONE {
                continue;
            }
            let root = find(&mut parent, labels[i]) as usize;
            let (x, y) = (x as u32, y as u32);
            if slot[root] == NONE {
                slot[root] = out.len() as u32;
                out.push(Component {
                    x0: x,
                    y0: y,
                    x1: x,
                    y1: y,
                    count: 0,
                    sum: 0.0,
                });
            }
            let c = &mut out[slot[root] as usize];
            c.x0 = c.x0.min(x);
            c.x1 = c.x1.max(x);
            c.y0 = c.y0.min(y);
            c.y1 = c.y1.max(y);
            c.count += 1;
            c.sum += map.data[i];
        }
    }
    out
}

/// Scores a component as a plate, or `None` when its shape rules it out. The score is its mean
/// density (relative to the gradient clip) times how well it fills its box.
pub fn score(c: &Component, p: &DetectParams) -> Option<f32> {
    let (w, h) = (c.width() as f32, c.height() as f32);
    let aspect = w / h;
    let fill = c.count as f32 / (w * h);
    let ok = c.height() >= p.min_height
        && c.height() <= p.max_height
        && aspect >= p.min_aspect
        && aspect <= p.max_aspect
        && fill >= p.min_fill;
    ok.then(|| c.sum / c.count as f32 / p.grad_clip * fill)
}

/// Candidates from the density maps of one frame (`(level, map)` pairs), in frame coordinates,
/// best first, after non-maximum suppression.
pub fn extract(
    densities: &[(u32, &Map)],
    frame_width: u32,
    frame_height: u32,
    p: &DetectParams,
) -> Vec<Candidate> {
    let mut all = Vec::new();
    for &(_, map) in densities {
        // Scale from the map's actual size, which is not exactly 2^level for odd frame sizes.
        let sx = frame_width as f32 / map.width as f32;
        let sy = frame_height as f32 / map.height as f32;
        for &t in &p.thresholds {
            for c in components(map, t) {
                if let Some(s) = score(&c, p) {
                    all.push(Candidate::from_rect(
                        c.x0 as f32 * sx,
                        c.y0 as f32 * sy,
                        c.width() as f32 * sx,
                        c.height() as f32 * sy,
                        s,
                    ));
                }
            }
        }
    }
    nms(all, p.nms_iou, p.max_candidates)
}

/// Keeps the best candidates, dropping any that overlaps a kept one by more than `max_iou`.
pub fn nms(mut cands: Vec<Candidate>, max_iou: f32, limit: usize) -> Vec<Candidate> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in cands {
        if kept.len() >= limit {
            break;
        }
        if kept.iter().all(|k| iou(k.bbox(), c.bbox()) <= max_iou) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_with(w: u32, h: u32, rects: &[(u32, u32, u32, u32, f32)]) -> Map {
        let mut m = Map::zeros(w, h);
        for &(x0, y0, rw, rh, v) in rects {
            for y in y0..y0 + rh {
                for x in x0..x0 + rw {
                    m.data[(y * w + x) as usize] = v;
                }
            }
        }
        m
    }

    #[test]
    fn finds_separate_and_touching_components() {
        // Two blobs, and a U shape whose arms join only at the bottom (needs the union step).
        let mut m = map_with(20, 10, &[(1, 1, 4, 2, 5.0), (10, 1, 3, 3, 5.0)]);
        for (x, y) in [(15, 1), (15, 2), (15, 3), (18, 1), (18, 2), (18, 3)] {
            m.data[y * 20 + x] = 5.0;
        }
        for x in 15..=18 {
            m.data[4 * 20 + x] = 5.0;
        }
        let mut cs = components(&m, 1.0);
        cs.sort_by_key(|c| c.x0);
        assert_eq!(cs.len(), 3);
        assert_eq!(
            (cs[0].x0, cs[0].y0, cs[0].x1, cs[0].y1, cs[0].count),
            (1, 1, 4, 2, 8)
        );
        assert_eq!((cs[2].x0, cs[2].y0, cs[2].x1, cs[2].y1), (15, 1, 18, 4));
        assert_eq!(cs[2].count, 10);
        assert!(components(&m, 6.0).is_empty());
    }

    #[test]
    fn keeps_plate_shapes_and_scales_to_the_frame() {
        let p = DetectParams::default();
        // A 24×6 plate-like blob and a 6×6 square one on a level-2 map of a 400×200 frame.
        let m = map_with(100, 50, &[(10, 20, 24, 6, 30.0), (60, 20, 6, 6, 30.0)]);
        let cands = extract(&[(2, &m)], 400, 200, &p);
        assert_eq!(cands.len(), 1, "the square is not a plate: {cands:?}");
        assert_eq!(cands[0].bbox(), [40.0, 80.0, 136.0, 104.0]);
        assert!(cands[0].score > 0.0);
    }

    #[test]
    fn nms_drops_overlaps_and_limits() {
        let a = Candidate::from_rect(0.0, 0.0, 10.0, 10.0, 0.9);
        let b = Candidate::from_rect(1.0, 0.0, 10.0, 10.0, 0.8);
        let c = Candidate::from_rect(50.0, 0.0, 10.0, 10.0, 0.7);
        let kept = nms(vec![c, b, a], 0.4, 10);
        assert_eq!(kept, vec![a, c]);
        assert_eq!(nms(vec![a, c], 0.4, 1), vec![a]);
    }
}
