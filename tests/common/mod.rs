//! Helpers for the whole-system tests: real `custos testcam` processes, real ingest.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use custos_core::{CameraId, Frame};
use custos_pipeline::config::parse_rtsp_url;
use custos_pipeline::{CameraSettings, CameraState, CameraStatus, Ingest};

pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Runs `custos ARGS` to completion; panics with its output when it fails.
pub fn custos(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .output()
        .expect("run custos");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "custos {args:?} failed: {text}");
    text
}

/// Runs `custos ARGS`, expecting it to fail; returns its stderr.
pub fn custos_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .output()
        .expect("run custos");
    assert!(!out.status.success(), "custos {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// An appliance set up the way its administrator does it, with the `custos` commands: the CA,
/// the server certificate (localhost, 127.0.0.1), a person's client certificate, the agency,
/// and that person as a principal with a password and the TOTP secret `principal add` printed.
pub struct Provisioned {
    pub pki: String,
    pub data: String,
    pub agency: String,
    pub person: String,
    pub password_file: String,
    pub totp_secret: String,
}

impl Provisioned {
    pub fn new(dir: &Path, agency: &str, person: &str, role: &str) -> Self {
        let d = |p: &str| dir.join(p).to_str().unwrap().to_owned();
        let (pki, data, password_file) = (d("pki"), d("data"), d("pw"));
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
            "pki", "client", "--dir", &pki, "--agency", agency, "--name", person,
        ]);
        custos(&["agency", "create", "--data-dir", &data, "--agency", agency]);
        std::fs::write(&password_file, "a long enough password\n").unwrap();
        let out = custos(&[
            "principal",
            "add",
            "--data-dir",
            &data,
            "--agency",
            agency,
            "--name",
            person,
            "--role",
            role,
            "--password-file",
            &password_file,
        ]);
        let totp_secret = out
            .lines()
            .find(|l| {
                l.len() == 32
                    && l.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            .unwrap_or_else(|| panic!("no TOTP secret in {out}"))
            .to_owned();
        Self {
            pki,
            data,
            agency: agency.into(),
            person: person.into(),
            password_file,
            totp_secret,
        }
    }

    /// The `[grpc]` section serving on `port` with these certificates.
    pub fn grpc_section(&self, port: u16) -> String {
        let pki = &self.pki;
        format!(
            "[grpc]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{pki}/server.pem\"\n\
             tls_key = \"{pki}/server.key\"\nclient_ca = \"{pki}/ca.pem\"\n\
             crl = \"{pki}/crl.pem\"\n"
        )
    }

    /// The venv's `python3 SCRIPT` (a path under the repository) with the connection and login arguments
    /// every client script here takes.
    pub fn python(&self, script: &str, port: u16) -> Command {
        let manifest = env!("CARGO_MANIFEST_DIR");
        let (pki, who) = (&self.pki, format!("{}-{}", self.agency, self.person));
        let mut c = Command::new(python3());
        c.arg(format!("{manifest}/{script}"))
            .args(["--proto", &format!("{manifest}/grpc/proto")])
            .args([
                "--port",
                &port.to_string(),
                "--ca",
                &format!("{pki}/ca.pem"),
            ])
            .args(["--cert", &format!("{pki}/clients/{who}.pem")])
            .args(["--key", &format!("{pki}/clients/{who}.key")])
            .args([
                "--user",
                &self.person,
                "--password-file",
                &self.password_file,
            ])
            .args(["--totp-secret", &self.totp_secret]);
        c
    }

    /// The actions (gRPC methods, CLI commands) of the agency's audit log, oldest first.
    pub fn audit_actions(&self) -> Vec<String> {
        audit_actions(Path::new(&self.data), &self.agency)
    }

    /// `custos audit verify` on the agency passes.
    pub fn assert_audit_verifies(&self) {
        let out = custos(&[
            "audit",
            "verify",
            "--data-dir",
            &self.data,
            "--agency",
            &self.agency,
        ]);
        assert!(out.contains("OK"), "{out}");
    }
}

/// A `custos serve` child process, killed when the test ends however it ends.
pub struct Serve(pub Child);

impl Serve {
    /// Starts `custos serve --config CONFIG` from the repository root; returns it with its
    /// stdout's lines.
    pub fn start(config: &str) -> (Serve, Lines<BufReader<ChildStdout>>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
            .args(["serve", "--config", config])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        (Serve(child), BufReader::new(stdout).lines())
    }

    /// Reads serve's first lines up to the metrics address, which it returns; the gRPC line
    /// before it must say TLS 1.3.
    pub fn metrics_address(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
        for line in lines.by_ref() {
            let line = line.unwrap();
            eprintln!("serve: {line}");
            if line.contains("serving gRPC") {
                assert!(line.contains("TLS 1.3"), "{line}");
            }
            if let Some(a) = line
                .strip_prefix("custos: metrics on http://")
                .and_then(|a| a.strip_suffix("/metrics"))
            {
                return a.to_owned();
            }
        }
        panic!("serve ended before printing its metrics address");
    }

    /// SIGTERM; waits (at most 30 s) for it to exit 0 and returns how long that took.
    pub fn terminate(mut self) -> Duration {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                assert!(st.success(), "custos serve exited with {st}");
                return t0.elapsed();
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on a plain HTTP server (`/metrics`, `/healthz`): the whole response.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// The sum of a Prometheus metric's samples.
pub fn metric(text: &str, name: &str) -> f64 {
    camera_metric(text, name, "")
}

/// The sum of a Prometheus metric's samples for one camera (all cameras if `camera` is empty).
pub fn camera_metric(text: &str, name: &str, camera: &str) -> f64 {
    let label = format!("camera=\"{camera}\"");
    text.lines()
        .filter(|l| l.starts_with(name) && (camera.is_empty() || l.contains(&label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The actions (gRPC methods, CLI commands) of an agency's audit log, oldest first.
pub fn audit_actions(data: &Path, agency: &str) -> Vec<String> {
    let store = custos_store::AgencyStore::open(
        &custos_store::Layout::new(data),
        agency,
        custos_store::StoreOptions::default(),
    )
    .unwrap();
    store
        .audit_log()
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.body.action)
        .collect()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `custos testcam` child process.
pub struct TestCam {
    pub child: Child,
    pub urls: Vec<String>,
    pub port: u16,
}

impl TestCam {
    /// Starts `cameras` 360p H.264 test cameras on `port` and waits until they listen.
    pub fn start(cameras: usize, port: u16) -> TestCam {
        Self::start_with(cameras, port, &[], &[])
    }

    pub fn start_with(cameras: usize, port: u16, extra: &[&str], env: &[(&str, &str)]) -> TestCam {
        let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
            .args([
                "testcam",
                "--res",
                "360p",
                "--cameras",
                &cameras.to_string(),
                "--port",
                &port.to_string(),
            ])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn custos testcam");
        let stdout = child.stdout.take().unwrap();
        let urls: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(cameras)
            .map(|l| l.unwrap())
            .collect();
        assert_eq!(urls.len(), cameras, "testcam did not print its URLs");
        TestCam { child, urls, port }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }
}

impl Drop for TestCam {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn camera(id: &str, url: &str) -> CameraSettings {
    let mut s =
        CameraSettings::with_defaults(CameraId::new(id).unwrap(), parse_rtsp_url(url).unwrap());
    // Analyse every frame so tests see the stream's own cadence.
    s.analysis_fps = 60.0;
    s
}

/// Starts the ingest with a queue big enough that tests never drop frames.
pub fn start_ingest(cameras: Vec<CameraSettings>) -> (Ingest, Receiver<Frame>) {
    init_logs();
    let (tx, rx) = crossbeam_channel::bounded(10_000);
    (Ingest::start(cameras, tx).expect("ingest starts"), rx)
}

/// Polls `ingest` until `pred` holds for camera `index`, or panics after `timeout` with the
/// status seen last.
pub fn wait_for(
    ingest: &Ingest,
    index: usize,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&CameraStatus) -> bool,
) -> CameraStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let status = ingest.status()[index].clone();
        if pred(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; status: {status:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn is_streaming(s: &CameraStatus) -> bool {
    s.state == CameraState::Streaming
}

/// Waits until every camera of `ingest` streams.
pub fn wait_all_streaming(ingest: &Ingest) {
    for i in 0..ingest.status().len() {
        wait_for(
            ingest,
            i,
            Duration::from_secs(20),
            "streaming",
            is_streaming,
        );
    }
}

mod python;
#[allow(unused_imports)] // not every test binary runs Python
pub use python::python3;
