//! `custos serve` as an administrator sets it up: `custos pki`, `custos agency create`,
//! `custos principal add`, a config file; then the Python grpcio client logs in over mutual TLS
//! and searches. Also: the transport safety checks at start-up.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Serve, custos, custos_fails, free_port};

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
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let (pki, data) = (d("pki"), d("data"));
    custos(&["pki", "init", "--dir", &pki]);
    custos(&[
        "pki",
        "server",
        "--dir",
        &pki,
        "--name",
        "localhost",
        "--name",
        "127.0.0.1",
    ]);
    custos(&[
        "pki", "client", "--dir", &pki, "--agency", "north", "--name", "jane",
    ]);
    custos(&[
        "pki", "client", "--dir", &pki, "--agency", "north", "--name", "lost",
    ]);
    let lost = format!("{pki}/clients/north-lost.pem");
    let out = custos(&["pki", "revoke", "--dir", &pki, "--cert", &lost]);
    assert!(out.contains("revoked"), "{out}");
    custos(&["agency", "create", "--data-dir", &data, "--agency", "north"]);
    std::fs::write(d("pw"), "a long enough password\n").unwrap();
    let out = custos(&[
        "principal",
        "add",
        "--data-dir",
        &data,
        "--agency",
        "north",
        "--name",
        "jane",
        "--role",
        "investigator",
        "--password-file",
        &d("pw"),
    ]);
    let secret = out
        .lines()
        .find(|l| {
            l.len() == 32
                && l.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no TOTP secret in {out}"))
        .to_owned();
    add_reads(Path::new(&data));
    let port = free_port();
    let config = format!(
        "[store]\ndata_dir = \"{data}\"\ncache_mb = 16\n\n[grpc]\nlisten = \"127.0.0.1:{port}\"\n\
         tls_cert = \"{pki}/server.pem\"\ntls_key = \"{pki}/server.key\"\nclient_ca = \"{pki}/ca.pem\"\ncrl = \"{pki}/crl.pem\"\n"
    );
    std::fs::write(d("custos.toml"), config).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["serve", "--config", &d("custos.toml")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("TLS 1.3"), "{first}");

    let manifest = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{manifest}/grpc/tests/python/client.py"))
        .args(["--proto", &format!("{manifest}/grpc/proto")])
        .args([
            "--port",
            &port.to_string(),
            "--ca",
            &format!("{pki}/ca.pem"),
        ])
        .args(["--cert", &format!("{pki}/clients/north-jane.pem")])
        .args(["--key", &format!("{pki}/clients/north-jane.key")])
        .args([
            "--user",
            "jane",
            "--password-file",
            &d("pw"),
            "--totp-secret",
            &secret,
        ])
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
    let pid = serve.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let t0 = Instant::now();
    let mut serve = serve;
    loop {
        if let Some(st) = serve.0.try_wait().unwrap() {
            assert!(st.success(), "custos serve exited with {st}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let verify = custos(&["audit", "verify", "--data-dir", &data, "--agency", "north"]);
    assert!(verify.contains("OK"), "{verify}");
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
