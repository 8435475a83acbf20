pub mod agency;
pub mod audit;
pub mod demo;
pub mod eval;
mod eval_ocr;
pub mod ingest;
pub mod pki;
pub mod principal;
pub mod serve;
pub mod testcam;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::Receiver;

/// A channel that yields once on SIGINT or SIGTERM.
pub fn stop_signal() -> Result<Receiver<()>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;
    Ok(rx)
}

/// Calls `tick` every `every` until a stop signal or, if given, `duration` has passed.
pub fn run_until_stopped(
    stop: &Receiver<()>,
    duration: Option<Duration>,
    every: Duration,
    mut tick: impl FnMut(),
) {
    let deadline = duration.map(|d| Instant::now() + d);
    loop {
        let wait = match deadline {
            Some(deadline) => every.min(deadline.saturating_duration_since(Instant::now())),
            None => every,
        };
        if stop.recv_timeout(wait).is_ok() {
            return;
        }
        tick();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
    }
}

/// Parses a duration in seconds given on the command line.
pub fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}
