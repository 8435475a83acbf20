//! Ingest against real RTSP servers: our own test cameras (gst-rtsp-server, in separate
//! processes so they can be killed and frozen), VLC, and servers that misbehave.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use custos_pipeline::{CameraState, Transport};

#[test]
fn four_cameras_deliver_frames_with_monotonic_timestamps() {
    let cam = TestCam::start(4, free_port());
    let cameras = cam
        .urls
        .iter()
        .enumerate()
        .map(|(i, u)| camera(&format!("cam{i}"), u))
        .collect();
    let (ingest, frames) = start_ingest(cameras);
    wait_all_streaming(&ingest);
    let start = Instant::now();
    let mut last: HashMap<String, (u64, SystemTime, Duration)> = HashMap::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut with_camera_clock = 0;
    while start.elapsed() < Duration::from_secs(4) {
        let Ok(frame) = frames.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        assert_eq!((frame.width, frame.height), (640, 360));
        assert_eq!(frame.luma_packed().len(), 640 * 360);
        let pts = frame.pts.expect("frames carry a PTS");
        let id = frame.camera.to_string();
        if let Some((seq, received, prev_pts)) = last.get(&id) {
            assert!(
                frame.sequence > *seq,
                "{id}: sequence went from {seq} to {}",
                frame.sequence
            );
            assert!(
                frame.received_at >= *received,
                "{id}: receive time went backwards"
            );
            assert!(
                pts > *prev_pts,
                "{id}: PTS went from {prev_pts:?} to {pts:?}"
            );
        }
        // Wall-clock receive time is now, give or take the jitter buffer.
        let age = SystemTime::now()
            .duration_since(frame.received_at)
            .unwrap_or_default();
        assert!(
            age < Duration::from_secs(3),
            "{id}: frame received_at is {age:?} old"
        );
        if let Some(captured) = frame.captured_at {
            // The camera's NTP capture time (from RTCP) and our receive time agree closely on
            // one machine.
            let skew = match captured.duration_since(frame.received_at) {
                Ok(d) => d,
                Err(e) => e.duration(),
            };
            assert!(
                skew < Duration::from_secs(2),
                "{id}: capture and receive times {skew:?} apart"
            );
            with_camera_clock += 1;
        }
        last.insert(id.clone(), (frame.sequence, frame.received_at, pts));
        *counts.entry(id).or_default() += 1;
    }
    for i in 0..4 {
        let n = counts.get(&format!("cam{i}")).copied().unwrap_or(0);
        // 15 fps for 4 s; allow for a loaded machine.
        assert!(n >= 30, "cam{i} delivered only {n} frames in 4 s");
    }
    let status = ingest.status();
    for s in &status {
        assert_eq!(s.decoder.as_deref(), Some("avdec_h264"), "{s:#?}");
        assert!(s.fps > 5.0, "{s:#?}");
        assert_eq!(s.last_error, None);
    }
    // Sender reports come every few seconds; once one has arrived every frame has its time.
    assert!(
        with_camera_clock > 0,
        "no frame carried the camera's NTP capture time"
    );
    ingest.stop();
}

#[test]
fn analysis_rate_skips_and_counts_frames() {
    let cam = TestCam::start(1, free_port());
    let mut settings = camera("cam0", &cam.urls[0]);
    settings.analysis_fps = 5.0;
    let (ingest, frames) = start_ingest(vec![settings]);
    wait_for(
        &ingest,
        0,
        Duration::from_secs(20),
        "streaming",
        is_streaming,
    );
    let s = wait_for(
        &ingest,
        0,
        Duration::from_secs(20),
        "60 decoded frames",
        |s| s.frames_decoded >= 60,
    );
    let analysed = s.frames_analysed as f64;
    let skipped = s.frames_skipped as f64;
    // 15 fps in, 5 fps analysed: about a third analysed, the rest skipped and counted.
    let share = analysed / (analysed + skipped);
    assert!(
        (0.25..=0.45).contains(&share),
        "analysed share {share:.2}: {s:#?}"
    );
    assert!(frames.try_iter().count() as u64 >= s.frames_analysed.saturating_sub(1));
    ingest.stop();
}

#[test]
fn killed_server_reconnects_and_others_never_stall() {
    let port = free_port();
    let steady = TestCam::start(3, free_port());
    let mut victim = TestCam::start(1, port);
    let mut cameras: Vec<_> = steady
        .urls
        .iter()
        .enumerate()
        .map(|(i, u)| camera(&format!("steady{i}"), u))
        .collect();
    cameras.push(camera("victim", &victim.urls[0]));
    let (ingest, frames) = start_ingest(cameras);
    wait_all_streaming(&ingest);
    frames.try_iter().for_each(drop);

    let killed_at = SystemTime::now();
    drop(victim);
    wait_for(
        &ingest,
        3,
        Duration::from_secs(10),
        "the fault to be noticed",
        |s| s.state == CameraState::Backoff,
    );
    std::thread::sleep(Duration::from_secs(2));

    victim = TestCam::start(1, port);
    let restarted = Instant::now();
    let restarted_at = SystemTime::now();
    // Every frame from the kill on: the victim's first new frame, and the others' gaps.
    let mut last_seen: HashMap<String, SystemTime> = HashMap::new();
    let mut worst_gap = Duration::ZERO;
    let reconnected = loop {
        if let Ok(frame) = frames.recv_timeout(Duration::from_millis(100)) {
            let id = frame.camera.to_string();
            if id == "victim" {
                if frame.received_at > restarted_at {
                    break restarted.elapsed();
                }
                continue;
            }
            let prev = last_seen.insert(id, frame.received_at).unwrap_or(killed_at);
            if frame.received_at > killed_at {
                worst_gap =
                    worst_gap.max(frame.received_at.duration_since(prev).unwrap_or_default());
            }
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "victim did not reconnect within 5 s of its restart: {:#?}",
            ingest.status()[3]
        );
    };
    eprintln!(
        "victim reconnected {reconnected:?} after its server restarted; worst gap on the others {worst_gap:?}"
    );
    assert_eq!(
        last_seen.len(),
        3,
        "every other camera delivered frames during the outage"
    );
    assert!(
        worst_gap < Duration::from_secs(1),
        "another camera stalled for {worst_gap:?}"
    );
    let status = ingest.status();
    assert!(status[3].reconnects >= 1);
    for s in &status[..3] {
        assert_eq!(s.reconnects, 0, "{s:#?}");
    }
    ingest.stop();
    drop(victim);
}

/// A server that accepts RTSP connections and answers with garbage.
fn garbage_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf);
                    let _ =
                        stream.write_all(b"\x00\xffHELLO garbage \x13\x37 not rtsp at all\r\n\r\n");
                    let _ = stream.write_all(&[0xAB; 512]);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (port, handle)
}

#[test]
fn bad_sources_give_clear_errors_without_panics() {
    let cam = TestCam::start(1, free_port());
    let refused = format!("rtsp://127.0.0.1:{}/cam0", free_port());
    let bad_path = format!("rtsp://127.0.0.1:{}/no-such-camera", cam.port);
    let (garbage_port, garbage) = garbage_server();
    let garbage_url = format!("rtsp://127.0.0.1:{garbage_port}/cam0");
    let mut cameras = vec![
        camera("refused", &refused),
        camera("badpath", &bad_path),
        camera("garbage", &garbage_url),
        camera("good", &cam.urls[0]),
    ];
    for c in &mut cameras {
        c.stall_timeout = Duration::from_secs(3);
    }
    let (ingest, _frames) = start_ingest(cameras);
    let expect = |i: usize, words: &[&str]| {
        let s = wait_for(&ingest, i, Duration::from_secs(15), "an error", |s| {
            s.last_error.is_some()
        });
        let err = s.last_error.clone().unwrap();
        eprintln!("{}: {err}", s.id);
        assert!(
            words
                .iter()
                .any(|w| err.to_lowercase().contains(&w.to_lowercase())),
            "{}: error {err:?} should mention one of {words:?}",
            s.id
        );
        assert_ne!(s.state, CameraState::Streaming);
    };
    expect(0, &["refused", "could not connect"]);
    expect(1, &["404", "not found"]);
    expect(2, &["could not", "invalid", "parse", "stalled", "error"]);
    wait_for(
        &ingest,
        3,
        Duration::from_secs(20),
        "the good camera streaming",
        is_streaming,
    );
    ingest.stop();
    garbage.join().unwrap();
}

#[test]
fn frozen_server_is_detected_and_recovers() {
    let cam = TestCam::start(1, free_port());
    let mut settings = camera("frozen", &cam.urls[0]);
    settings.stall_timeout = Duration::from_secs(2);
    let (ingest, frames) = start_ingest(vec![settings]);
    wait_for(
        &ingest,
        0,
        Duration::from_secs(20),
        "streaming",
        is_streaming,
    );
    cam.signal("-STOP");
    let frozen_at = Instant::now();
    let s = wait_for(
        &ingest,
        0,
        Duration::from_secs(8),
        "the stall to be detected",
        |s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("stalled"))
        },
    );
    eprintln!(
        "stall detected after {:?}: {:?}",
        frozen_at.elapsed(),
        s.last_error
    );
    std::thread::sleep(Duration::from_secs(1));
    cam.signal("-CONT");
    let resumed = Instant::now();
    frames.try_iter().for_each(drop);
    let before = ingest.status()[0].frames_analysed;
    wait_for(
        &ingest,
        0,
        Duration::from_secs(20),
        "frames after SIGCONT",
        |s| s.frames_analysed > before + 15 && is_streaming(s),
    );
    eprintln!("recovered {:?} after SIGCONT", resumed.elapsed());
    ingest.stop();
}

#[test]
fn interoperates_with_vlc_over_udp() {
    if std::process::Command::new("cvlc")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("cvlc is missing: run scripts/setup");
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mkv");
    custos_pipeline::testcam::encode_clip(
        &clip,
        640,
        360,
        15,
        20,
        custos_pipeline::testcam::VideoCodec::H264,
        3,
    )
    .unwrap();
    // VLC refuses to run as root; nobody must be able to read the clip.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&clip, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let port = free_port();
    let sout = format!("#rtp{{sdp=rtsp://127.0.0.1:{port}/vlc}}");
    let mut vlc = std::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            "cvlc",
            "--intf",
            "dummy",
            "--no-audio",
            "--loop",
        ])
        .arg(&clip)
        .args(["--sout", &sout])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start cvlc");
    // VLC forks; end the whole process group however the test ends.
    struct KillGroup(u32);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0)])
                .status();
        }
    }
    let _vlc_group = KillGroup(vlc.id());
    std::thread::sleep(Duration::from_secs(2));
    let mut settings = camera("vlc", &format!("rtsp://127.0.0.1:{port}/vlc"));
    settings.transport = Transport::Udp;
    // VLC refuses RTP over TCP (461): the per-camera transport setting is what makes it work.
    let mut over_tcp = camera("vlc-tcp", &format!("rtsp://127.0.0.1:{port}/vlc"));
    over_tcp.transport = Transport::Tcp;
    let (ingest, frames) = start_ingest(vec![settings, over_tcp]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = 0;
    while Instant::now() < deadline && got < 20 {
        if let Ok(f) = frames.recv_timeout(Duration::from_millis(200)) {
            assert_eq!((f.width, f.height), (640, 360));
            assert_eq!(f.camera.as_str(), "vlc", "no frames over TCP from VLC");
            got += 1;
        }
    }
    let status = ingest.status();
    let tcp_error = wait_for(
        &ingest,
        1,
        Duration::from_secs(15),
        "TCP to be refused",
        |s| s.last_error.is_some(),
    )
    .last_error;
    ingest.stop();
    let _ = vlc.kill();
    let _ = vlc.wait();
    assert!(
        got >= 20,
        "only {got} frames from VLC over UDP; status {status:#?}"
    );
    eprintln!("VLC over TCP: {tcp_error:?}");
    assert!(tcp_error.is_some_and(|e| e.contains("transport tcp")));
    assert_eq!(status[0].decoder.as_deref(), Some("avdec_h264"));
}

#[test]
fn credentials_come_from_secret_files_and_never_show_in_status() {
    let password = "c0rrect-h0rse";
    let cam = TestCam::start_with(
        1,
        free_port(),
        &["--user", "viewer", "--password-env", "TESTCAM_PW"],
        &[("TESTCAM_PW", password)],
    );
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let bad = dir.path().join("bad");
    std::fs::write(&good, format!("{password}\n")).unwrap();
    std::fs::write(&bad, "wrong-password-123\n").unwrap();

    let mut with_good = camera("good", &cam.urls[0]);
    with_good.username = Some("viewer".into());
    with_good.password = Some(custos_pipeline::SecretRef::File(good));
    let mut with_bad = camera("bad", &cam.urls[0]);
    with_bad.username = Some("viewer".into());
    with_bad.password = Some(custos_pipeline::SecretRef::File(bad));
    let no_credentials = camera("none", &cam.urls[0]);
    let (ingest, _frames) = start_ingest(vec![with_good, with_bad, no_credentials]);

    wait_for(
        &ingest,
        0,
        Duration::from_secs(20),
        "streaming with the right password",
        is_streaming,
    );
    for i in [1, 2] {
        let s = wait_for(&ingest, i, Duration::from_secs(15), "an auth error", |s| {
            s.last_error.is_some()
        });
        let err = s.last_error.unwrap();
        assert!(
            err.contains("Unauthorized") || err.contains("401"),
            "{}: {err}",
            s.id
        );
    }
    let status = serde_json::to_string(&ingest.status()).unwrap();
    assert!(
        !status.contains(password) && !status.contains("wrong-password-123"),
        "{status}"
    );
    ingest.stop();
}

#[test]
fn h265_cameras_decode_with_the_h265_decoder() {
    let cam = TestCam::start_with(1, free_port(), &["--codec", "h265"], &[]);
    let (ingest, frames) = start_ingest(vec![camera("hevc", &cam.urls[0])]);
    let s = wait_for(
        &ingest,
        0,
        Duration::from_secs(30),
        "streaming",
        is_streaming,
    );
    assert_eq!(s.decoder.as_deref(), Some("avdec_h265"));
    let frame = frames
        .recv_timeout(Duration::from_secs(10))
        .expect("an H.265 frame");
    assert_eq!((frame.width, frame.height), (640, 360));
    ingest.stop();
}

#[test]
fn reconnect_backoff_runs_on_the_injected_clock() {
    init_logs();
    let clock = std::sync::Arc::new(custos_pipeline::clock::ManualMonotonic::default());
    let mut settings = camera("refused", &format!("rtsp://127.0.0.1:{}/cam0", free_port()));
    settings.backoff_initial = Duration::from_secs(10);
    let (tx, _rx) = crossbeam_channel::bounded(8);
    let ingest =
        custos_pipeline::Ingest::start_with_clock(vec![settings], tx, clock.clone()).unwrap();
    wait_for(
        &ingest,
        0,
        Duration::from_secs(10),
        "the first failure",
        |s| s.state == CameraState::Backoff,
    );
    // Real time passes, simulated time does not: no new attempt.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ingest.status()[0].reconnects, 0);
    // The first delay is at most the initial 10 s (jitter scales it into [5 s, 10 s]).
    clock.advance(Duration::from_secs(10));
    wait_for(
        &ingest,
        0,
        Duration::from_secs(10),
        "a reconnect attempt",
        |s| s.reconnects == 1,
    );
    ingest.stop();
}
