//! Helpers for the whole-system tests: real `custos testcam` processes, real ingest.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
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

/// A `custos serve` child process, killed when the test ends however it ends.
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
