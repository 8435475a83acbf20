//! Renders camera status as a terminal table.

use std::fmt::Write;

use custos_pipeline::CameraStatus;

pub fn render(statuses: &[CameraStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<10} {:<11} {:>9} {:>5} {:>8} {:>8} {:>8} {:>7} {:>5}  last error",
        "camera",
        "state",
        "decoder",
        "size",
        "fps",
        "decoded",
        "analysed",
        "skipped",
        "dropped",
        "recon"
    );
    for s in statuses {
        let size = if s.width > 0 {
            format!("{}x{}", s.width, s.height)
        } else {
            "-".into()
        };
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12} {:<10} {:<11} {:>9} {:>5.1} {:>8} {:>8} {:>8} {:>7} {:>5}  {}",
            truncate(s.id.as_str(), 12),
            state,
            s.decoder.as_deref().unwrap_or("-"),
            size,
            s.fps,
            s.frames_decoded,
            s.frames_analysed,
            s.frames_skipped,
            s.frames_dropped,
            s.reconnects,
            s.last_error.as_deref().unwrap_or("")
        );
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}
