//! The `custos` binary as a user runs it: config errors that point at the problem, and the demo.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

fn custos(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .output()
        .expect("run custos")
}

fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custos.toml");
    std::fs::write(&path, text).unwrap();
    let out = custos(&["check-config", path.to_str().unwrap()]);
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), all)
}

#[test]
fn check_config_accepts_the_documented_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/custos.toml");
    let out = custos(&["check-config", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 camera(s)"));
}

#[test]
fn config_errors_name_file_line_camera_and_key() {
    let (ok, msg) = check_config("[[cameras]]\nid = \"gate\"\nurl = \"rtsp://h/x\"\nfsp = 3\n");
    assert!(!ok);
    assert!(
        msg.contains("custos.toml") && msg.contains("line 4") && msg.contains("fsp"),
        "{msg}"
    );

    let (ok, msg) = check_config("[[cameras]]\nid = \"gate\"\nurl = \"rtsp://admin:s3cret@h/x\"\n");
    assert!(!ok);
    assert!(
        msg.contains("gate") && msg.contains("url") && !msg.contains("s3cret"),
        "{msg}"
    );

    let (ok, msg) = check_config("[ingest]\nanalysis_fps = -1\n");
    assert!(!ok);
    assert!(msg.contains("analysis_fps"), "{msg}");

    let (ok, msg) = check_config("[[cameras]]\nid = \"g\"\nurl = 5\n");
    assert!(!ok);
    assert!(msg.contains("line 3") && msg.contains("url"), "{msg}");

    let out = custos(&["check-config", "/nonexistent/custos.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/custos.toml"));
}

#[test]
fn demo_serves_grpc_reads_plates_and_alerts_on_the_hotlisted_one() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo");
    let out = custos(&[
        "demo",
        "--cameras",
        "2",
        "--duration",
        "45",
        "--dir",
        kept.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The admin's credentials, shown once: a random password and a TOTP secret (base32).
    let shown = |label: &str| -> String {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line:\n{stdout}"));
        line.trim_start()[label.len()..].trim().to_owned()
    };
    for secret in [shown("password"), shown("TOTP secret")] {
        assert!(
            secret.len() == 32
                && secret
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
            "{secret}"
        );
    }
    assert!(stdout.contains("serving gRPC on 127.0.0.1:") && stdout.contains("TLS 1.3"));
    // The console logged in over gRPC and hotlisted a plate that a camera then showed.
    let console = stdout
        .lines()
        .find(|l| l.starts_with("console: logged in over gRPC"))
        .unwrap_or_else(|| panic!("the console did not log in:\n{stdout}"));
    let hotlisted = console
        .split(" holds ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{console}"))
        .trim_end_matches(',');
    // Plates read, one line per vehicle pass: camera, text, confidence.
    let reads: Vec<&str> = stdout.lines().filter(|l| l.starts_with("read ")).collect();
    assert!(reads.len() >= 4, "few plates read in 45 s:\n{stdout}");
    for line in &reads {
        let text = line.split_whitespace().nth(2).unwrap_or_default();
        assert!(
            text.len() >= 4
                && text
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && line.ends_with('%'),
            "{line}"
        );
    }
    let alert = stdout
        .lines()
        .find(|l| l.starts_with("ALERT"))
        .unwrap_or_else(|| panic!("no alert for {hotlisted}:\n{stdout}"));
    let alerted = alert.split_whitespace().nth(2).unwrap_or_default();
    assert!(
        alerted == hotlisted || alert.contains("(confusable match)"),
        "hotlisted {hotlisted}: {alert}"
    );
    assert!(
        alert.contains("cam0") && alert.contains("demo-stolen"),
        "{alert}"
    );
    // The last status table shows both cameras streaming through the software decoder.
    let last_table = stdout.rsplit("camera ").next().unwrap_or_default();
    for cam in ["cam0", "cam1"] {
        let row = last_table
            .lines()
            .find(|l| l.starts_with(cam))
            .unwrap_or_else(|| panic!("no row for {cam}:\n{stdout}"));
        assert!(
            row.contains("streaming") && row.contains("avdec_h264") && row.contains("640x360"),
            "{row}"
        );
    }
    assert!(stdout.contains("custos: stopped ("), "{stdout}");

    // --dir kept a working appliance: its config checks, and the agency's audit log (with the
    // console's login and hotlist changes) verifies.
    let config = kept.join("custos.toml");
    let out = custos(&["check-config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = kept.join("data");
    let out = custos(&[
        "audit",
        "verify",
        "--data-dir",
        data.to_str().unwrap(),
        "--agency",
        "demo",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let actions = common::audit_actions(&data, "demo");
    for call in ["Auth/Login", "Hotlists/AddEntry", "Hotlists/StreamAlerts"] {
        assert!(
            actions.iter().any(|a| a.contains(call)),
            "{call}: {actions:?}"
        );
    }
    // A second demo into the same directory is refused, never mixed with the first.
    let again = custos(&["demo", "--duration", "1", "--dir", kept.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn testcam_writes_ground_truth_for_every_pass() {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");
    let out = custos(&[
        "testcam",
        "--cameras",
        "2",
        "--port",
        "0",
        "--res",
        "360p",
        "--duration",
        "12",
        "--ground-truth",
        truth.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let urls: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(urls.len(), 2);
    assert!(
        urls[0].starts_with("rtsp://127.0.0.1:") && urls[0].ends_with("/cam0"),
        "{urls:?}"
    );

    let text = std::fs::read_to_string(&truth).unwrap();
    let passes: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        passes.len() >= 2,
        "only {} passes in 12 s:\n{text}",
        passes.len()
    );
    for p in &passes {
        let plate = p["plate"].as_str().unwrap();
        assert!(
            (4..=9).contains(&plate.len())
                && plate
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{plate}"
        );
        assert!(["cam0", "cam1"].contains(&p["camera"].as_str().unwrap()));
        let (first, last) = (
            p["first_frame"].as_u64().unwrap(),
            p["last_frame"].as_u64().unwrap(),
        );
        assert!(first < last);
        for b in p["boxes"].as_array().unwrap() {
            let f = b["frame"].as_u64().unwrap();
            assert!((first..=last).contains(&f));
            assert!(b["x"].as_u64().unwrap() + b["w"].as_u64().unwrap() <= 640);
            assert!(b["y"].as_u64().unwrap() + b["h"].as_u64().unwrap() <= 360);
        }
    }
}
