//! The whole appliance on real processes: `custos testcam` (synthetic RTSP cameras with known
//! plates), `custos serve` (ingest → analysis → store writer → hotlist matcher → gRPC over
//! mutual TLS), and a Python grpcio client in the control room that puts plates on a hotlist,
//! receives the alert when a camera sees one, and finds the stored read by a search that the
//! audit log records.
//!
//! Which plates the cameras will show is known before they show them: the test cameras render
//! their scenes in real time from a seed, so the test renders the same scenes here, ahead of
//! time, and picks a vehicle that enters the picture well after everything is up.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Provisioned, Serve, TestCam, camera_metric, free_port, http_get, metric};
use custos_synth::plate::PlateFonts;
use custos_synth::scene::{Scene, SceneConfig};

const FPS: u32 = 15;
/// One test camera process per camera, so that one can be killed alone and restarted.
const SEEDS: [u64; 4] = [1, 7, 13, 21];
/// The camera whose RTSP server is killed mid-test and restarted.
const KILLED: usize = 1;
/// The hotlisted vehicles enter the picture no earlier than this after the cameras start:
/// time for `custos serve` to start and the client to log in and subscribe.
const ENTER_AFTER_S: u64 = 20;

/// The first plate that `/cam0` of `custos testcam --seed SEED --res 360p` shows entering the
/// picture at or after `after_s`, with the frames it enters and leaves (camera 0 of a testcam
/// renders with the seed itself).
fn plate_entering_after(fonts: &Arc<PlateFonts>, seed: u64, after_s: u64) -> (String, u64, u64) {
    let scene = Scene::new(
        SceneConfig {
            width: 640,
            height: 360,
            fps: FPS,
            seed,
        },
        fonts.clone(),
    );
    let fps = u64::from(FPS);
    let pass = scene
        .first_pass_from(after_s * fps, 60 * fps, 5)
        .unwrap_or_else(|| panic!("seed {seed} shows no plate in the minute after {after_s} s"));
    (pass.plate, pass.first_frame, pass.last_frame)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn hotlisted_plate_alerts_the_python_client_and_reads_are_stored_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();

    // The plates to hotlist, worked out before any camera runs.
    let fonts = Arc::new(PlateFonts::load().expect("fonts (scripts/setup installs them)"));
    let render_start = Instant::now();
    let targets: Vec<(String, u64, u64)> = SEEDS
        .iter()
        .map(|&seed| plate_entering_after(&fonts, seed, ENTER_AFTER_S))
        .collect();
    eprintln!(
        "hotlisted: {} (rendered ahead in {:.1} s)",
        targets
            .iter()
            .enumerate()
            .map(|(i, (p, a, b))| format!("cam{i} frames {a}-{b}: {p}"))
            .collect::<Vec<_>>()
            .join(", "),
        render_start.elapsed().as_secs_f64()
    );

    // The administrator's set-up.
    let app = Provisioned::new(dir.path(), "north", "sam", "supervisor");
    let data = app.data.clone();

    // The cameras start now: frame 0 of every scene.
    let cams_started = Instant::now();
    let mut cams: Vec<Option<TestCam>> = SEEDS
        .iter()
        .enumerate()
        .map(|(i, seed)| {
            let truth = d(&format!("truth{i}.jsonl"));
            Some(TestCam::start_with(
                1,
                free_port(),
                &["--seed", &seed.to_string(), "--ground-truth", &truth],
                &[],
            ))
        })
        .collect();
    let port = free_port();
    let cameras: String = cams
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let u = &c.as_ref().unwrap().urls[0];
            format!("[[cameras]]\nid = \"cam{i}\"\nurl = \"{u}\"\n\n")
        })
        .collect();
    let config = format!(
        "[ingest]\nanalysis_fps = 8\n\n{cameras}[ocr]\nproviders = [\"cpu\"]\n\n\
         [analysis]\nbackend = \"native\"\n\n\
         [store]\ndata_dir = \"{data}\"\ncache_mb = 16\n\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n\n{}",
        app.grpc_section(port)
    );
    std::fs::write(d("custos.toml"), config).unwrap();
    let (mut serve, mut lines) = Serve::start(&d("custos.toml"));
    let metrics_addr = Serve::metrics_address(&mut lines);
    // Keep reading its stdout so that it never blocks on a full pipe.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let serve_up_ms = now_ms();
    eprintln!(
        "serve up {:.1} s after the cameras started",
        cams_started.elapsed().as_secs_f64()
    );
    assert!(
        cams_started.elapsed() < Duration::from_secs(ENTER_AFTER_S - 8),
        "serve took too long to start for the hotlisted vehicles to be ahead"
    );
    assert!(http_get(&metrics_addr, "/healthz").ends_with("ok\n"));

    let plates: Vec<&str> = targets.iter().map(|(p, _, _)| p.as_str()).collect();
    let out = app
        .python("tests/python/e2e_client.py", port)
        .args(["--plates", &plates.join(","), "--timeout", "150"])
        .output()
        .expect("python3 (scripts/setup installs grpcio)");
    let text = String::from_utf8_lossy(&out.stdout);
    let metrics_text = http_get(&metrics_addr, "/metrics");
    assert!(
        out.status.success(),
        "python: {text}\n{}\nmetrics:\n{metrics_text}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("python:\n{text}");
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let alert = &last["alert"];
    let alert_plate = alert["plate"].as_str().unwrap().to_owned();
    // Exact or confusion-aware: the alert names the read's text, which is one of the plates
    // or within the matcher's reach of one.
    assert!(
        plates
            .iter()
            .any(|p| custos_track::similarity(p, &alert_plate) >= 0.7),
        "alert for {alert_plate}, hotlisted {plates:?}"
    );
    assert_eq!(alert["hotlist"], "stolen");
    assert_eq!(alert["retroactive"], false);
    let kind = alert["match_kind"].as_str().unwrap();
    assert!(
        ["exact", "confusable", "edit_distance"].contains(&kind),
        "{kind}"
    );
    assert_eq!(kind == "exact", plates.contains(&alert_plate.as_str()));
    assert!(
        alert["live_read_seen"].as_bool().unwrap(),
        "StreamLive delivered the read"
    );
    assert!(last["found_all"].as_u64().unwrap() >= 1);
    // Retroactive search: a plate read before it was hotlisted alerted when it was added.
    assert!(
        last["retro"].is_object(),
        "no retroactive alert (or no other plate read yet): {last}"
    );
    assert_eq!(last["retro"]["retroactive"], true);
    assert_eq!(last["retro"]["match_kind"], "exact");

    // /metrics: the analysis, ingest and store counters; alerts published promptly.
    for name in [
        "custos_analysis_info",
        "custos_store_reads_total",
        "custos_hotlist_hits_total",
    ] {
        assert!(
            metrics_text.contains(name),
            "{name} missing:\n{metrics_text}"
        );
    }
    assert!(metric(&metrics_text, "custos_store_reads_total") >= 1.0);
    assert!(metric(&metrics_text, "custos_hotlist_hits_total") >= 1.0);
    let publish_max_ms = metric(&metrics_text, "custos_publish_latency_max_microseconds") / 1000.0;
    eprintln!(
        "alert: {alert}; pass → read + alert published ≤ {publish_max_ms:.0} ms; reads stored {}",
        metric(&metrics_text, "custos_store_reads_total")
    );
    assert!(
        publish_max_ms < 1000.0,
        "a read took {publish_max_ms} ms from the analysis to the streams"
    );

    // One camera's RTSP server dies: the other cameras go on being read, serve goes on; when
    // the server comes back, the camera is read again.
    let killed_cam = format!("cam{KILLED}");
    let killed_port = cams[KILLED].as_ref().unwrap().port;
    drop(cams[KILLED].take());
    let killed_at = Instant::now();
    let killed_ms = now_ms();
    let before = camera_metric(&metrics_text, "custos_passes_total", "cam0");
    let after = loop {
        let m = http_get(&metrics_addr, "/metrics");
        let (p0, up) = (
            camera_metric(&m, "custos_passes_total", "cam0"),
            camera_metric(&m, "custos_camera_streaming", &killed_cam),
        );
        if p0 > before && up == 0.0 {
            break m;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "after {killed_cam}'s server died: cam0 passes {before} → {p0}, {killed_cam} \
             streaming {up}\n{m}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "{killed_cam}'s server killed: {:.1} s later cam0 had {} passes (was {before}), \
         {killed_cam} not streaming",
        killed_at.elapsed().as_secs_f64(),
        camera_metric(&after, "custos_passes_total", "cam0")
    );
    assert!(
        serve.0.try_wait().unwrap().is_none(),
        "serve died with a camera"
    );
    assert!(http_get(&metrics_addr, "/healthz").ends_with("ok\n"));
    let restarted_truth = d("truth-restarted.jsonl");
    cams[KILLED] = Some(TestCam::start_with(
        1,
        killed_port,
        &["--seed", "99", "--ground-truth", &restarted_truth],
        &[],
    ));
    let restarted_at = Instant::now();
    while camera_metric(
        &http_get(&metrics_addr, "/metrics"),
        "custos_camera_streaming",
        &killed_cam,
    ) == 0.0
    {
        assert!(
            restarted_at.elapsed() < Duration::from_secs(60),
            "{killed_cam} did not reconnect to its restarted server"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let restored_ms = now_ms();
    eprintln!(
        "{killed_cam} streaming again {:.1} s after its server restarted; outage {:.1} s",
        restarted_at.elapsed().as_secs_f64(),
        (restored_ms - killed_ms) as f64 / 1e3
    );
    // Long enough for the restarted camera's vehicles to pass and be judged.
    std::thread::sleep(Duration::from_secs(25));

    // SIGTERM: the pipeline drains, the store closes, exit 0.
    let term_ms = now_ms();
    let stop_s = serve.terminate().as_secs_f64();
    let tail = rest.join().unwrap();
    eprintln!("serve stopped in {stop_s:.1} s: {tail:?}");
    assert!(
        tail.iter().any(|l| l.starts_with("custos: stopped")),
        "{tail:?}"
    );
    drop(cams);

    // The searches the client made are in the agency's audit log, which verifies.
    let store = custos_store::AgencyStore::open(
        &custos_store::Layout::new(Path::new(&data)),
        "north",
        custos_store::StoreOptions::default(),
    )
    .unwrap();
    let log = store.audit_log().unwrap();
    let searches: Vec<_> = log
        .records
        .iter()
        .filter(|r| r.body.action.contains("Reads/Search") && r.body.principal.contains("sam"))
        .collect();
    assert_eq!(
        searches.len(),
        2,
        "{:#?}",
        log.records
            .iter()
            .map(|r| &r.body.action)
            .collect::<Vec<_>>()
    );
    assert!(searches.iter().all(|r| r.body.reason == "stolen_vehicle"));
    assert!(
        searches
            .iter()
            .any(|r| r.body.parameters.contains(&alert_plate)),
        "the search's plate is in the audit entry"
    );
    assert!(
        log.records
            .iter()
            .any(|r| r.body.action.contains("Hotlists/AddEntry")),
        "hotlist changes are audited"
    );
    assert!(
        log.records.iter().any(|r| r.body.principal == "system"
            && r.body.reason == "hotlist retroactive search"
            && r.body.result_count >= 1),
        "the retroactive search is audited"
    );
    let stored = store.count_reads().unwrap();
    assert!(stored >= 1);

    // The stored reads against the cameras' ground truth: vehicle passes wholly inside the
    // time each camera was watched (from a few seconds after serve was up, to a second before
    // its server died or serve was stopped) are read exactly, once.
    let reads = store
        .find(&custos_store::Search {
            query: custos_store::PlateQuery::Wildcard {
                pattern: "*".into(),
            },
            from_ms: 0,
            to_ms: u64::MAX,
            limit: 100_000,
        })
        .unwrap()
        .reads;
    let (mut judged, mut exact, mut duplicates, mut missed) = (0u32, 0u32, 0u32, Vec::new());
    // (camera, its ground truth, the time it was watched): the killed camera is judged before
    // the outage and after it, never during it.
    let mut watched: Vec<(String, String, u64, u64)> = (0..SEEDS.len())
        .map(|i| {
            let end = if i == KILLED { killed_ms } else { term_ms };
            (
                format!("cam{i}"),
                d(&format!("truth{i}.jsonl")),
                serve_up_ms,
                end,
            )
        })
        .collect();
    watched.push((killed_cam.clone(), restarted_truth, restored_ms, term_ms));
    let mut after_restart = 0;
    for (segment, (camera, truth, from_ms, end_ms)) in watched.into_iter().enumerate() {
        let text = std::fs::read_to_string(&truth).unwrap();
        for g in text
            .lines()
            .filter_map(|l| serde_json::from_str::<custos_pipeline::testcam::GroundTruth>(l).ok())
        {
            let at = |f: u64| g.epoch_ms + f * 1000 / u64::from(g.fps);
            let (start, end) = (at(g.pass.first_frame), at(g.pass.last_frame));
            if start < from_ms + 3000 || end + 1000 > end_ms {
                continue;
            }
            judged += 1;
            let same = reads
                .iter()
                .filter(|r| {
                    r.camera == camera
                        && r.plate == g.pass.plate
                        && r.captured_at_ms + 3000 >= start
                        && r.captured_at_ms <= end + 3000
                })
                .count();
            match same {
                0 => missed.push(format!("{camera} {}", g.pass.plate)),
                1 if segment == SEEDS.len() => {
                    exact += 1;
                    after_restart += 1;
                }
                1 => exact += 1,
                _ => {
                    exact += 1;
                    duplicates += 1;
                }
            }
        }
    }
    let share = f64::from(exact) / f64::from(judged.max(1));
    eprintln!(
        "ground truth: {exact}/{judged} vehicle passes read exactly ({:.1} %), {after_restart} \
         of them after {killed_cam}'s restart; {duplicates} duplicates; missed {missed:?}",
        100.0 * share
    );
    assert!(judged >= 20, "only {judged} vehicle passes to judge");
    assert!(share >= 0.95, "{exact}/{judged} read exactly");
    assert_eq!(duplicates, 0, "one read per vehicle pass");
    assert!(
        after_restart >= 1,
        "{killed_cam} was not read after its restart"
    );
    drop(store);
    app.assert_audit_verifies();
}
