//! `custos demo`: the built-in test cameras, ingested and analysed, printing the plates read per
//! camera as they come. Needs no configuration.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use custos::analysis::{self, AnalysedCamera, Analysis, AnalysisConfig, Pass};
use custos_core::CameraId;
use custos_pipeline::config::parse_rtsp_url;
use custos_pipeline::testcam::{Source, TestCamConfig, TestCamServer, VideoCodec};
use custos_pipeline::{CameraSettings, Ingest};

#[derive(clap::Args)]
pub struct Args {
    /// Number of test cameras.
    #[arg(long, default_value_t = 4)]
    cameras: usize,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = super::seconds)]
    duration: Option<Duration>,
}

pub fn run(args: Args) -> Result<()> {
    let stop = super::stop_signal()?;
    let server = TestCamServer::start(TestCamConfig {
        cameras: args.cameras,
        address: "127.0.0.1".into(),
        port: 0,
        source: Source::Scene {
            width: 1280,
            height: 720,
            fps: 15,
            codec: VideoCodec::H264,
            seed: 1,
        },
        ground_truth: None,
        credentials: None,
    })
    .context("cannot start the test cameras")?;
    let cameras = server
        .urls()
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let id = CameraId::new(format!("cam{i}"))?;
            let url = parse_rtsp_url(url).map_err(anyhow::Error::msg)?;
            Ok(CameraSettings::with_defaults(id, url))
        })
        .collect::<Result<Vec<_>>>()?;
    let analysed: Vec<AnalysedCamera> = cameras.iter().map(AnalysedCamera::from).collect();

    let config = AnalysisConfig::default();
    let (localizer, recognizer) =
        analysis::open_engines(&config, &custos_ocr::OcrConfig::default())
            .context("cannot start the analysis")?;
    let (passes_tx, passes) = crossbeam_channel::bounded::<Pass>(config.pass_queue);
    let analysis = Analysis::start(&analysed, &config, localizer, recognizer, passes_tx)
        .context("cannot start the analysis")?;
    let ingest = Ingest::start(cameras, analysis.frames()).context("cannot start the ingest")?;
    let m = analysis.metrics();
    eprintln!(
        "custos demo: {} test cameras on rtsp://127.0.0.1:{}/cam0…; plates by {} and OCR on {}; \
         Ctrl-C stops",
        analysed.len(),
        server.port(),
        m.backend,
        m.provider
    );

    // The plates are synthetic, so showing their text here is fine; logs never carry it.
    let mut out = std::io::stdout().lock();
    let mut earlier = m;
    let mut last_summary = Instant::now();
    let mut summary = |out: &mut std::io::StdoutLock<'_>| {
        let now = analysis.metrics();
        let status = ingest.status();
        let _ = write!(out, "{}", crate::status_table::render(&status));
        let rates = now.rates(&earlier);
        let (frames_per_call, crops_per_batch) = now.mean_batches();
        for (r, c) in rates.iter().zip(&now.cameras) {
            let _ = writeln!(
                out,
                "{:<12} analysing {:>4.1} fps, {} passes",
                r.camera.as_str(),
                r.fps_analysed,
                c.passes
            );
        }
        let _ = writeln!(
            out,
            "kernels {:.1} frames/call, OCR {:.1} crops/batch, {:.0} ms/batch\n",
            frames_per_call,
            crops_per_batch,
            now.ocr_time.mean_s().unwrap_or(0.0) * 1e3
        );
        earlier = now;
    };
    super::run_until_stopped(&stop, args.duration, Duration::from_millis(200), || {
        for pass in passes.try_iter() {
            let _ = writeln!(out, "{}", pass_line(&pass));
        }
        if last_summary.elapsed() >= Duration::from_secs(10) {
            last_summary = Instant::now();
            summary(&mut out);
        }
    });
    summary(&mut out);
    ingest.stop();
    let end = analysis.stop();
    for pass in passes.try_iter() {
        let _ = writeln!(out, "{}", pass_line(&pass));
    }
    let total: u64 = end.cameras.iter().map(|c| c.passes).sum();
    eprintln!(
        "custos demo: stopped; {total} vehicle passes read from {} analysed frames",
        end.cameras.iter().map(|c| c.frames_analysed).sum::<u64>()
    );
    drop(server);
    Ok(())
}

fn pass_line(p: &Pass) -> String {
    format!(
        "{:<12} {:<10} {:>4.0} %  ({} frames, {:.1} s)",
        p.camera.as_str(),
        p.text,
        p.confidence * 100.0,
        p.frames,
        p.last_seen
            .duration_since(p.first_seen)
            .unwrap_or_default()
            .as_secs_f64()
    )
}
