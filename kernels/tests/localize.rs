//! Localisation behaviour on the native backend: plates found, plate-free frames quiet, odd and
//! huge sizes safe, frames from `custos_core::Frame` with strides, batch buffer handling, and a
//! floor on real-data recall.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::SystemTime;

use bytes::Bytes;
use custos_core::{CameraId, Frame, FrameFormat, Plane, iou};
use custos_kernels::{CropJob, CropSpec, KernelError, Localizer, LumaView};

fn found(cands: &[custos_core::Candidate], plate: [f32; 4]) -> f32 {
    cands
        .iter()
        .map(|c| iou(c.bbox(), plate))
        .fold(0.0, f32::max)
}

#[test]
fn finds_generated_plates_of_several_sizes() {
    let s = common::scene(
        1280,
        720,
        0,
        &[(100, 100, 70, 18), (500, 300, 140, 34), (850, 420, 280, 68)],
        11,
    );
    let cands = common::native().localize(&[s.view()]).unwrap().remove(0);
    for p in &s.plates {
        let best = found(&cands, *p);
        assert!(
            best >= 0.5,
            "plate {p:?}: best IoU {best}, candidates {cands:?}"
        );
    }
    assert!(cands.len() <= 10);
}

#[test]
fn plate_free_frames_give_few_candidates() {
    let mut loc = common::native();
    let flat = vec![128u8; 640 * 480];
    let noise = common::scene(640, 480, 0, &[], 5);
    let cands = loc
        .localize(&[LumaView::packed(&flat, 640, 480).unwrap(), noise.view()])
        .unwrap();
    assert!(cands[0].is_empty(), "flat frame: {:?}", cands[0]);
    assert!(cands[1].len() <= 3, "noise frame: {:?}", cands[1]);
}

#[test]
fn odd_tiny_and_4k_sizes_work() {
    let mut loc = common::native();
    let sizes = [(1, 1), (2, 3), (17, 9), (31, 7), (1001, 77), (3840, 2160)];
    let scenes: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            let plates: &[(u32, u32, u32, u32)] = if w >= 1000 {
                &[(600, 20, 160, 40)]
            } else {
                &[]
            };
            common::scene(w, h, i, plates, i as u64)
        })
        .collect();
    let views: Vec<_> = scenes.iter().map(|s| s.view()).collect();
    let cands = loc.localize(&views).unwrap();
    assert_eq!(cands.len(), views.len());
    for (c, s) in cands.iter().zip(&scenes) {
        assert!(c.len() <= 10);
        for cand in c {
            let b = cand.bbox();
            assert!(
                b[0] >= 0.0
                    && b[1] >= 0.0
                    && b[2] <= s.width as f32 + 0.01
                    && b[3] <= s.height as f32 + 0.01,
                "{b:?} in {}×{}",
                s.width,
                s.height
            );
        }
        for p in &s.plates {
            assert!(
                found(c, *p) >= 0.5,
                "{}×{}: plate {p:?} not found in {c:?}",
                s.width,
                s.height
            );
        }
    }
    // Crops from the tiny frames are defined too.
    let spec = CropSpec::default();
    let mut out = vec![f32::NAN; spec.floats_per_crop()];
    let job = CropJob {
        frame: 0,
        slot: 0,
        candidate: custos_core::Candidate::from_rect(0.0, 0.0, 1.0, 1.0, 1.0),
    };
    loc.crop(&views[..1], &[job], &spec, &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}

fn frame_with_padding(
    s: &common::Scene,
    format: FrameFormat,
    offset: usize,
    stride: usize,
) -> Frame {
    let (w, h) = (s.width as usize, s.height as usize);
    let mut data = vec![0u8; offset + stride * h + stride * h / 2];
    for y in 0..h {
        data[offset + y * stride..offset + y * stride + w]
            .copy_from_slice(&s.data[y * s.stride..y * s.stride + w]);
    }
    Frame {
        camera: CameraId::new("gate").unwrap(),
        sequence: 1,
        pts: None,
        received_at: SystemTime::UNIX_EPOCH,
        captured_at: None,
        width: s.width,
        height: s.height,
        format,
        data: Bytes::from(data),
        luma: Plane {
            offset,
            stride,
            row_bytes: w,
            rows: h,
        },
        chroma: None,
    }
}

#[test]
fn frames_with_stride_and_offset_match_packed_luma() {
    let s = common::scene(333, 150, 0, &[(100, 60, 120, 30)], 3);
    let mut loc = common::native();
    let want = loc.localize(&[s.view()]).unwrap();
    assert!(!want[0].is_empty());
    for (format, offset, stride) in [(FrameFormat::I420, 0, 384), (FrameFormat::Nv12, 7, 341)] {
        let f = frame_with_padding(&s, format, offset, stride);
        let got = loc.localize(&[LumaView::from_frame(&f).unwrap()]).unwrap();
        assert_eq!(got, want, "{format:?}");
    }
    // A frame whose plane does not fit its buffer is an error, not a panic.
    let mut f = frame_with_padding(&s, FrameFormat::I420, 0, 384);
    f.luma.rows = 10_000;
    assert!(LumaView::from_frame(&f).is_err());
    f.luma.rows = 150;
    f.width = 400;
    assert!(matches!(
        LumaView::from_frame(&f),
        Err(KernelError::PlaneTooSmall { .. })
    ));
}

#[test]
fn batch_buffer_is_filled_in_order_and_overflow_is_counted() {
    let a = common::scene(640, 360, 0, &[(100, 100, 140, 34), (400, 250, 90, 22)], 4);
    let b = common::scene(500, 300, 0, &[(200, 120, 120, 30)], 6);
    let spec = CropSpec::default();
    let n = spec.floats_per_crop();
    let mut out = vec![f32::NAN; 2 * n + 7];
    let mut loc = common::native();
    let r = loc.process(&[a.view(), b.view()], &spec, &mut out).unwrap();
    let total: usize = r.candidates.iter().map(Vec::len).sum();
    assert!(total >= 3, "{:?}", r.candidates);
    assert_eq!(r.crops.len(), 2);
    assert_eq!(r.dropped, total - 2);
    assert!(
        out[..2 * n]
            .iter()
            .all(|v| v.is_finite() && (-1.0..=1.0).contains(v))
    );
    assert!(
        out[2 * n..].iter().all(|v| v.is_nan()),
        "nothing written past the slots"
    );
    // The crop of the best candidate is a plate: characters contrasting with their background
    // (the 10th and 90th percentiles of a flat patch would be close).
    let mut first = out[..n].to_vec();
    first.sort_by(f32::total_cmp);
    let (p10, p90) = (first[n / 10], first[n * 9 / 10]);
    assert!(p90 - p10 > 0.3, "10th percentile {p10}, 90th {p90}");

    let job = CropJob {
        frame: 0,
        slot: 5,
        candidate: r.candidates[0][0],
    };
    assert!(matches!(
        loc.crop(&[a.view()], &[job], &spec, &mut out),
        Err(KernelError::BatchTooSmall { .. })
    ));
}

#[test]
fn real_images_reach_a_recall_floor() {
    // A guard against regressions, below today's level (`custos eval detect` measures the full
    // sets; the EU photos are the quick ones to decode in a debug build).
    let mut loc = common::native();
    let (mut hits, mut plates) = (0, 0);
    let images = common::real_images("alpr-bench/MANIFEST.tsv", 10, |l| {
        l.region.as_deref() == Some("eu")
    });
    for (label, img) in images {
        let cands = loc.localize(&[img.view().unwrap()]).unwrap().remove(0);
        assert!(cands.len() <= 10);
        for b in &label.boxes {
            plates += 1;
            hits += usize::from(found(&cands, *b) >= 0.5);
        }
    }
    assert_eq!(plates, 10);
    assert!(hits >= 9, "{hits} of {plates} plates found at IoU ≥ 0.5");
}
