//! Generated data shared by the benchmarks: plates, a skewed vehicle pool, reads over days and
//! cameras, batched ingest, percentiles.

use std::time::Instant;

use anyhow::{Context, Result};
use custos_core::CameraId;
use custos_store::{AgencyStore, NewRead, PlateCandidate};

pub const DAY: u64 = 86_400_000;

/// Distinct vehicles: a city's worth, scaled with the run (repeat visits are the norm).
pub fn pool_size(reads: u64) -> u64 {
    (reads / 20).clamp(1_000, 500_000)
}

/// A plate like "ABC1234" for vehicle `i` (a bijective-ish scramble so neighbours differ).
pub fn plate(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
    let mut s = String::with_capacity(7);
    for pos in 0..7 {
        let letters = pos < 3;
        let n = if letters { 26 } else { 10 };
        let c = (x % n) as u8;
        x /= n;
        s.push(if letters {
            (b'A' + c) as char
        } else {
            (b'0' + c) as char
        });
    }
    s
}

pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Skewed towards low indices: frequent vehicles.
    pub fn vehicle(&mut self, pool: u64) -> u64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u) * pool as f64) as u64
    }
}

#[allow(clippy::too_many_arguments)]
pub fn gen_read(
    start: u64,
    i: u64,
    total: u64,
    days: u64,
    cams: &[CameraId],
    rng: &mut Rng,
    pool: u64,
    crop: bool,
) -> NewRead {
    let t = start + i * (days * DAY) / total.max(1);
    let p = plate(rng.vehicle(pool));
    NewRead {
        camera: cams[rng.below(cams.len() as u64) as usize].clone(),
        captured_at_ms: t,
        candidates: vec![PlateCandidate {
            text: p.clone(),
            score: 0.93,
        }],
        char_confidences: vec![0.95; p.len()],
        plate: p,
        confidence: 0.93,
        plate_box: [10.0, 10.0, 110.0, 10.0, 110.0, 40.0, 10.0, 40.0],
        crop_jpeg: crop.then(|| vec![0xA5; 4096]),
        context_jpeg: None,
        track_id: i,
        hit_flags: u32::from(rng.below(1000) == 0),
    }
}

/// Ingests `n` generated reads over `days` days from `start` in batches; returns reads/s.
#[allow(clippy::too_many_arguments)]
pub fn ingest(
    store: &AgencyStore,
    start: u64,
    n: u64,
    days: u64,
    batch: usize,
    crop: bool,
    pool: u64,
) -> Result<f64> {
    let cams: Vec<CameraId> = (0..100)
        .map(|c| CameraId::new(format!("cam{c}")).expect("\"camN\" is a valid camera id"))
        .collect();
    let mut rng = Rng(0x1234_5678_9abc_def1 ^ crop as u64);
    let started = Instant::now();
    let mut i = 0;
    let mut last_report = Instant::now();
    while i < n {
        let m = (n - i).min(batch as u64);
        let reads: Vec<NewRead> = (i..i + m)
            .map(|k| gen_read(start, k, n, days, &cams, &mut rng, pool, crop))
            .collect();
        store.ingest(&reads).context("ingest")?;
        i += m;
        if last_report.elapsed().as_secs() >= 30 {
            eprintln!(
                "  … {i}/{n} reads, {:.0}/s",
                i as f64 / started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}
