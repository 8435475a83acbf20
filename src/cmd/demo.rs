//! `custos demo`: the built-in test cameras, ingested, with per-camera status. Needs no
//! configuration.

use std::time::Duration;

use anyhow::{Context, Result};
use custos_core::CameraId;
use custos_pipeline::CameraSettings;
use custos_pipeline::config::parse_rtsp_url;
use custos_pipeline::testcam::{Source, TestCamConfig, TestCamServer, VideoCodec};

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
    eprintln!(
        "custos demo: {} test cameras on rtsp://127.0.0.1:{}/cam0…; Ctrl-C stops",
        cameras.len(),
        server.port()
    );
    super::ingest::ingest_and_report(cameras, args.duration, false)
}
