//! `custos testcam`: synthetic RTSP cameras with known plates.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use custos_pipeline::testcam::{Source, TestCamConfig, TestCamServer, VideoCodec};
pub use custos_synth::Resolution;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Codec {
    H264,
    H265,
}

impl From<Codec> for VideoCodec {
    fn from(c: Codec) -> Self {
        match c {
            Codec::H264 => VideoCodec::H264,
            Codec::H265 => VideoCodec::H265,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Number of cameras, served at /cam0, /cam1, …
    #[arg(long, default_value_t = 4)]
    cameras: usize,
    /// TCP port for RTSP (0 picks a free one).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    #[arg(long, value_enum, default_value = "720p")]
    res: Resolution,
    #[arg(long, default_value_t = 15)]
    fps: u32,
    #[arg(long, value_enum, default_value = "h264")]
    codec: Codec,
    /// Seed for the scenes: the same seed gives the same plates.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Append every vehicle pass (plate text, frames, boxes) to this JSON-lines file.
    #[arg(long)]
    ground_truth: Option<PathBuf>,
    /// Require RTSP basic authentication as this user (the password comes from --password-env).
    #[arg(long, requires = "password_env")]
    user: Option<String>,
    /// Environment variable holding the password for --user.
    #[arg(long, requires = "user")]
    password_env: Option<String>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_parser = super::seconds)]
    duration: Option<Duration>,
}

pub fn run(args: Args) -> Result<()> {
    let stop = super::stop_signal()?;
    let (width, height) = args.res.size();
    let credentials = match (args.user, args.password_env) {
        (Some(user), Some(var)) => {
            let password = std::env::var(&var).with_context(|| {
                format!("--password-env: environment variable {var} is not set")
            })?;
            Some((user, password))
        }
        _ => None,
    };
    let server = TestCamServer::start(TestCamConfig {
        cameras: args.cameras,
        address: args.address,
        port: args.port,
        source: Source::Scene {
            width,
            height,
            fps: args.fps,
            codec: args.codec.into(),
            seed: args.seed,
        },
        ground_truth: args.ground_truth,
        credentials,
    })
    .context("cannot start the test cameras")?;
    for url in server.urls() {
        println!("{url}");
    }
    super::run_until_stopped(&stop, args.duration, Duration::from_secs(1), || {});
    drop(server);
    Ok(())
}
