//! The `custos` binary as a user runs it: config errors that point at the problem, and the demo.

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
fn demo_streams_every_test_camera_and_reads_plates() {
    let out = custos(&["demo", "--cameras", "2", "--duration", "25"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last table shows both cameras streaming through the software decoder.
    let last_table = stdout.rsplit("camera ").next().unwrap_or_default();
    for cam in ["cam0", "cam1"] {
        let row = last_table
            .lines()
            .find(|l| l.starts_with(cam))
            .unwrap_or_else(|| panic!("no row for {cam}:\n{stdout}"));
        assert!(
            row.contains("streaming") && row.contains("avdec_h264") && row.contains("1280x720"),
            "{row}"
        );
    }
    // Plates read, one line per vehicle pass: camera, text, confidence.
    let reads: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("cam") && l.contains(" %  ("))
        .collect();
    assert!(!reads.is_empty(), "no plates read in 25 s:\n{stdout}");
    for line in reads {
        let text = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(
            text.len() >= 4
                && text
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{line}"
        );
    }
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
