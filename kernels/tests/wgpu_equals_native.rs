//! Every kernel's wgpu output equals the native backend's, on generated frames (odd sizes,
//! padded strides, tiny) and real ones, all in one multi-camera batch per backend.
//!
//! Tolerances: pyramid maps within 1e-3 grey levels and detector outputs within 1e-3 relative
//! (both backends do the same float operations in the same order; only division and fused
//! multiply-add may round differently); candidates identical boxes within 0.05 px; crops within
//! 2 grey levels.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use custos_core::Candidate;
use custos_kernels::{CropJob, CropSpec, Localizer, LumaView, Map};

const MAP_TOL: f32 = 1e-3;
const HEAD_TOL: f32 = 1e-3;

fn frames_owned() -> (Vec<common::Scene>, Vec<custos_eval::GrayImage>) {
    let scenes = vec![
        common::scene(17, 9, 0, &[], 1),
        common::scene(64, 33, 6, &[(10, 12, 40, 12)], 2),
        common::scene(333, 101, 3, &[(50, 40, 120, 30)], 3),
        common::scene(640, 360, 0, &[(100, 100, 140, 34), (400, 250, 90, 22)], 4),
    ];
    let mut real: Vec<_> = common::real_images("alpr-bench/MANIFEST.tsv", 1, |l| {
        l.region.as_deref() == Some("eu")
    })
    .into_iter()
    .map(|(_, i)| i)
    .collect();
    real.extend(
        common::real_images("detect-dashcam-ro/boxes.tsv", 1, |_| true)
            .into_iter()
            .map(|(_, i)| i),
    );
    assert_eq!(real.len(), 2);
    (scenes, real)
}

fn assert_maps_close(what: &str, frame: usize, a: &Map, b: &Map) {
    let d = a
        .max_abs_diff(b)
        .unwrap_or_else(|| panic!("frame {frame} {what}: sizes differ"));
    assert!(d <= MAP_TOL, "frame {frame} {what}: max difference {d}");
}

#[test]
fn maps_candidates_and_crops_match() {
    let (scenes, real) = frames_owned();
    let mut views: Vec<LumaView<'_>> = scenes.iter().map(|s| s.view()).collect();
    views.extend(real.iter().map(|i| i.view().unwrap()));

    let mut native = common::native();
    let mut gpu = common::wgpu();
    eprintln!("wgpu adapter: {}", gpu.info());

    let nm = native.maps(&views).unwrap();
    let gm = gpu.maps(&views).unwrap();
    assert_eq!(nm.len(), views.len());
    assert_eq!(gm.len(), views.len());
    for (i, (n, g)) in nm.iter().zip(&gm).enumerate() {
        assert_eq!(n.pyramid.len(), g.pyramid.len());
        for (a, b) in n.pyramid.iter().zip(&g.pyramid) {
            assert_maps_close("pyramid", i, a, b);
        }
        assert_eq!(n.heads.len(), g.heads.len(), "frame {i}: searched levels");
        for ((la, a), (lb, b)) in n.heads.iter().zip(&g.heads) {
            assert_eq!(la, lb);
            let d = a
                .max_rel_diff(b)
                .unwrap_or_else(|| panic!("frame {i} level {la}: shapes differ"));
            assert!(
                d <= HEAD_TOL,
                "frame {i} level {la}: detector output differs by {d}"
            );
        }
    }
    // 17×9 is too small for any level; 64×33 has level 1 only (32×16); the others more.
    assert!(nm[0].heads.is_empty());
    assert_eq!(nm[1].heads.len(), 1);
    assert!(nm[2..].iter().all(|m| m.heads.len() >= 2));

    let nc = native.localize(&views).unwrap();
    let gc = gpu.localize(&views).unwrap();
    for (i, (a, b)) in nc.iter().zip(&gc).enumerate() {
        assert_eq!(a.len(), b.len(), "frame {i}: {a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            let (bx, by) = (x.bbox(), y.bbox());
            assert!(
                bx.iter().zip(by).all(|(p, q)| (p - q).abs() < 0.05),
                "frame {i}: {bx:?} vs {by:?}"
            );
        }
    }
    assert!(
        nc.iter().map(Vec::len).sum::<usize>() > 0,
        "some candidates to compare"
    );

    // Crops: every candidate, plus hand-made quads that are rotated, in perspective, partly
    // outside the frame, and degenerate.
    let mut jobs = Vec::new();
    for (frame, cands) in nc.iter().enumerate() {
        let extra = [
            Candidate {
                quad: [[5.0, 2.0], [15.0, 4.0], [14.0, 8.0], [4.0, 6.0]],
                score: 0.0,
            },
            Candidate {
                quad: [[-10.0, -5.0], [30.0, 0.0], [35.0, 20.0], [-12.0, 14.0]],
                score: 0.0,
            },
            Candidate {
                quad: [[3.0, 3.0]; 4],
                score: 0.0,
            },
        ];
        for c in cands.iter().chain(&extra) {
            jobs.push(CropJob {
                frame,
                slot: jobs.len(),
                candidate: *c,
            });
        }
    }
    let spec = CropSpec::default();
    let n = spec.floats_per_crop();
    let mut out_n = vec![f32::NAN; jobs.len() * n];
    let mut out_g = vec![f32::NAN; jobs.len() * n];
    native.crop(&views, &jobs, &spec, &mut out_n).unwrap();
    gpu.crop(&views, &jobs, &spec, &mut out_g).unwrap();
    let tol = 2.0 / (255.0 * spec.std);
    for (slot, (a, b)) in out_n.chunks(n).zip(out_g.chunks(n)).enumerate() {
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            d <= tol,
            "slot {slot} ({:?}): max difference {d}",
            jobs[slot]
        );
        assert!(a.iter().all(|v| v.is_finite()), "slot {slot} fully written");
    }
}

#[test]
fn wgpu_process_fills_the_batch_like_native() {
    let s = common::scene(300, 120, 5, &[(60, 50, 120, 30)], 9);
    let views = [s.view(), s.view()];
    let spec = CropSpec {
        width: 96,
        height: 24,
        ..CropSpec::default()
    };
    let mut a = vec![0.0; 3 * spec.floats_per_crop()];
    let mut b = a.clone();
    let ra = common::native().process(&views, &spec, &mut a).unwrap();
    let rb = common::wgpu().process(&views, &spec, &mut b).unwrap();
    assert_eq!(ra.crops.len(), rb.crops.len());
    assert_eq!(ra.dropped, rb.dropped);
    assert!(!ra.crops.is_empty());
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(d <= 2.0 / (255.0 * spec.std), "max difference {d}");
}
