//! `custos ingest` and `custos check-config`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use custos_pipeline::{CameraSettings, Ingest};

use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// The config file (TOML; see docs/config.md).
    #[arg(long, short)]
    config: PathBuf,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_parser = super::seconds)]
    duration: Option<Duration>,
    /// Print status as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The config file to check.
    config: PathBuf,
}

pub fn check(args: CheckArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    let cameras = config.cameras(&args.config)?;
    let path = args.config.display();
    // What `custos serve` checks at start besides the cameras.
    config
        .store
        .writer(&config.hotlist_match)
        .with_context(|| format!("{path}"))?;
    config.grpc.auth().with_context(|| format!("{path}"))?;
    config.grpc.tls().with_context(|| format!("{path}"))?;
    println!("{path}: ok, {} camera(s)", cameras.len());
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    let config = Config::load(&args.config)?;
    let cameras = config.cameras(&args.config)?;
    if cameras.is_empty() {
        anyhow::bail!("{}: no [[cameras]] configured", args.config.display());
    }
    ingest_and_report(cameras, args.duration, args.json)
}

/// Runs the ingest, drains its frames (analysis stages attach here) and prints status every
/// two seconds until stopped.
pub fn ingest_and_report(
    cameras: Vec<CameraSettings>,
    duration: Option<Duration>,
    json: bool,
) -> Result<()> {
    let stop = super::stop_signal()?;
    let (tx, rx) = crossbeam_channel::bounded(64);
    let ingest = Ingest::start(cameras, tx)?;
    let drain = std::thread::spawn(move || rx.iter().count());
    super::run_until_stopped(&stop, duration, Duration::from_secs(2), || {
        let status = ingest.status();
        if json {
            for s in &status {
                if let Ok(line) = serde_json::to_string(s) {
                    println!("{line}");
                }
            }
        } else if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // Redraw in place on a terminal; append when piped, so logs keep the history.
            print!("\x1b[2J\x1b[H{}", crate::status_table::render(&status));
        } else {
            println!("{}", crate::status_table::render(&status));
        }
    });
    ingest.stop();
    let frames = drain.join().unwrap_or(0);
    eprintln!("custos: stopped after {frames} analysed frames");
    Ok(())
}
