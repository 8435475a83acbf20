//! OCR throughput and latency by batch size on the CPU provider: how much batching crops from all
//! cameras buys. Prints a table, then one JSON line.
//!
//! `cargo run --release -p benches --bin ocr [-- --seconds 3 --threads 0 --views 1]`

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use custos_ocr::{GrayCrop, OnnxRecognizer, Provider, Recognizer, RuntimeConfig};
use custos_synth::plate::{PlateFonts, PlateSpec};

#[derive(Parser)]
struct Args {
    /// Seconds measured per batch size.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// ONNX Runtime intra-op threads (0: its default, all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Views read per plate (`[ocr] views`): plates/s counts plates, each read this many times.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=7))]
    views: u8,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let config = RuntimeConfig {
        providers: vec![Provider::Cpu],
        threads: args.threads,
        views: args.views.into(),
        ..RuntimeConfig::default()
    };
    let mut recognizer = OnnxRecognizer::load(&custos_ocr::bundled_model(), &config)
        .context("loading the OCR model")?;

    // 64 rendered plates of typical camera size (about 150 × 75 px).
    let fonts = PlateFonts::load()?;
    let mut rng = fastrand::Rng::with_seed(7);
    let plates: Vec<(usize, usize, Vec<u8>)> = (0..64)
        .map(|_| {
            let img = PlateSpec::random(&mut rng).render(&fonts, 150, &mut rng);
            (img.width, img.height, img.to_gray())
        })
        .collect();
    let crops: Vec<GrayCrop> = plates
        .iter()
        .map(|(w, h, px)| GrayCrop {
            width: *w,
            height: *h,
            stride: *w,
            pixels: px,
        })
        .collect();

    println!(
        "{:>5} {:>12} {:>14} {:>14}",
        "batch", "plates/s", "p50 batch ms", "p99 batch ms"
    );
    let mut results = Vec::new();
    for batch in [1usize, 8, 32, 64] {
        recognizer.recognize(&crops[..batch])?; // warm-up
        let mut latencies = Vec::new();
        let start = Instant::now();
        let mut plates_done = 0;
        while start.elapsed() < Duration::from_secs_f64(args.seconds) {
            let t = Instant::now();
            recognizer.recognize(&crops[..batch])?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            plates_done += batch;
        }
        let rate = plates_done as f64 / start.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "{batch:>5} {rate:>12.0} {:>14.2} {:>14.2}",
            pct(0.5),
            pct(0.99)
        );
        results.push((batch, rate, pct(0.5), pct(0.99)));
    }
    let rate = |b: usize| results.iter().find(|r| r.0 == b).map_or(0.0, |r| r.1);
    let machine = format!(
        "{} CPUs, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default()
    );
    println!(
        "{}",
        serde_json::json!({
            "provider": recognizer.provider().to_string(),
            "views": args.views,
            "plates_per_s_b1": rate(1),
            "plates_per_s_b8": rate(8),
            "plates_per_s_b32": rate(32),
            "plates_per_s_b64": rate(64),
            "batch_gain": rate(32) / rate(1).max(1e-9),
            "p99_ms_b32": results.iter().find(|r| r.0 == 32).map_or(0.0, |r| r.3),
            "machine": machine,
        })
    );
    Ok(())
}
