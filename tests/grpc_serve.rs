//! `custos serve` as an administrator sets it up: `custos pki`, `custos agency create`,
//! `custos principal add`, a config file; then the Python grpcio client logs in over mutual TLS
//! and searches. Also: the transport safety checks at start-up.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    Provisioned, Serve, TestCam, camera_metric, custos, custos_fails, free_port, http_get,
};

fn add_reads(data: &Path) {
    let store = custos_store::AgencyStore::open(
        &custos_store::Layout::new(data),
        "north",
        custos_store::StoreOptions::default(),
    )
    .unwrap();
    let now = custos_store::Clock::now_ms(&custos_store::SystemClock);
    let reads: Vec<custos_store::NewRead> = ["AB12CDE", "AB12CDF", "AB12CDE", "XY99ZZZ"]
        .iter()
        .enumerate()
        .map(|(i, p)| custos_store::NewRead {
            camera: custos_core::CameraId::new("gate").unwrap(),
            captured_at_ms: now - 60_000 * (i as u64 + 1),
            plate: (*p).into(),
            confidence: 0.9,
            char_confidences: vec![0.9; 7],
            candidates: vec![],
            plate_box: [0.0; 8],
            crop_jpeg: None,
            context_jpeg: None,
            track_id: 1,
            hit_flags: 0,
        })
        .collect();
    store.ingest(&reads).unwrap();
}

#[test]
fn serve_with_python_client_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let app = Provisioned::new(dir.path(), "north", "jane", "investigator");
    let pki = &app.pki;
    custos(&[
        "pki", "client", "--dir", pki, "--agency", "north", "--name", "lost",
    ]);
    let lost = format!("{pki}/clients/north-lost.pem");
    let out = custos(&["pki", "revoke", "--dir", pki, "--cert", &lost]);
    assert!(out.contains("revoked"), "{out}");
    add_reads(Path::new(&app.data));
    let port = free_port();
    let config = dir.path().join("custos.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ndata_dir = \"{}\"\ncache_mb = 16\n\n{}",
            app.data,
            app.grpc_section(port)
        ),
    )
    .unwrap();

    let (serve, mut lines) = Serve::start(config.to_str().unwrap());
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("TLS 1.3"), "{first}");

    let out = app
        .python("grpc/tests/python/client.py", port)
        .output()
        .expect("python3 (scripts/setup installs grpcio)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["found"]["exact"], 2);
    assert_eq!(last["found"]["wildcard"], 3);

    // SIGTERM stops it cleanly, and the audit chain verifies afterwards.
    serve.terminate();
    app.assert_audit_verifies();
}

/// Cameras registered over the gRPC Cameras API are read like those of the config file, without
/// a restart, and stop being read when removed; config cameras are listed and reported by the
/// same API, which refuses to change them.
#[test]
fn cameras_registered_over_grpc_are_read_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = Provisioned::new(dir.path(), "north", "ada", "admin");
    let (fixed, registered) = (
        TestCam::start(1, free_port()),
        TestCam::start(1, free_port()),
    );
    let port = free_port();
    let config = dir.path().join("custos.toml");
    std::fs::write(
        &config,
        format!(
            "[[cameras]]\nid = \"gate\"\nurl = \"{}\"\n\n[ocr]\nproviders = [\"cpu\"]\n\n\
             [analysis]\nbackend = \"native\"\n\n[store]\ndata_dir = \"{}\"\ncache_mb = 16\n\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\n{}",
            fixed.urls[0],
            app.data,
            app.grpc_section(port)
        ),
    )
    .unwrap();
    let (serve, mut lines) = Serve::start(config.to_str().unwrap());
    let metrics = Serve::metrics_address(&mut lines);
    std::thread::spawn(move || lines.map_while(Result::ok).count());
    let analysed = |cam: &str| {
        camera_metric(
            &http_get(&metrics, "/metrics"),
            "custos_frames_analysed_total",
            cam,
        )
    };

    let mut python = app
        .python("tests/python/cameras_client.py", port)
        .args(["--camera", "lane-2", "--url", &registered.urls[0]])
        .args(["--configured", "gate", "--hold", "15"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/setup installs grpcio)");
    let mut out = BufReader::new(python.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in out.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.starts_with("streaming") {
            break;
        }
    }
    // While registered, the camera's frames are analysed beside the configured one's.
    let t0 = Instant::now();
    while analysed("lane-2") == 0.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(12),
            "lane-2 streams but is not analysed; python: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    seen.extend(out.map_while(Result::ok));
    let status = python.wait().unwrap();
    assert!(status.success(), "python: {seen:?}");
    let last: serde_json::Value = serde_json::from_str(seen.last().unwrap()).unwrap();
    eprintln!("python: {last}");
    assert_eq!(last["listed"], serde_json::json!(["gate", "lane-2"]));
    assert_eq!(last["configured_refused"], "FAILED_PRECONDITION");
    assert_eq!(last["configured_state"], "streaming");
    assert_eq!(last["state_after_removal"], "NOT_FOUND");
    // Removed: no longer read; the configured camera never stopped being read for long.
    let t0 = Instant::now();
    while http_get(&metrics, "/metrics").contains("camera=\"lane-2\"") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "lane-2 still in /metrics"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let before = analysed("gate");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        analysed("gate") > before,
        "the configured camera is no longer analysed"
    );
    serve.terminate();
    drop((fixed, registered));
    app.assert_audit_verifies();
    let actions = app.audit_actions();
    for call in [
        "Cameras/AddCamera",
        "Cameras/RemoveCamera",
        "Cameras/UpdateCamera",
    ] {
        assert!(
            actions.iter().any(|a| a.contains(call)),
            "{call}: {actions:?}"
        );
    }
}

#[test]
fn serve_refuses_unsafe_transport() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let data = dir.path().join("data");
    let write = |listen: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[store]\ndata_dir = \"{}\"\n[grpc]\nlisten = \"{listen}\"\n",
                data.display()
            ),
        )
        .unwrap()
    };
    let c = cfg.to_str().unwrap();
    write("0.0.0.0:50051");
    let e = custos_fails(&["serve", "--config", c]);
    assert!(
        e.contains("tls_cert, tls_key and client_ca are required"),
        "{e}"
    );
    let e = custos_fails(&["serve", "--config", c, "--insecure-dev"]);
    assert!(e.contains("loopback"), "{e}");
    std::fs::write(&cfg, "[grpc]\nlisten_addr = \"127.0.0.1:1\"\n").unwrap();
    let e = custos_fails(&["serve", "--config", c]);
    assert!(e.contains("listen_addr"), "{e}");
}
