//! A Python grpcio client (stubs generated from the proto inside the test) against the real
//! server in-process: mutual TLS, password + TOTP login, searches, refusals, and an alert on the
//! stream, published through the server's Hub as the pipeline will.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use custos_grpc::policy::Role;
use custos_grpc::totp;
use custos_live::AlertEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_client() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let u = f.user("jane");
    let pw = f.dir.path().join("password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let manifest = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(common::python3())
        .arg(format!("{manifest}/tests/python/client.py"))
        .args(["--proto", &format!("{manifest}/proto")])
        .args(["--port", &f.port.to_string()])
        .arg("--ca")
        .arg(f.ca())
        .arg("--cert")
        .arg(&u.cert)
        .arg("--key")
        .arg(&u.key)
        .args(["--user", "jane"])
        .arg("--password-file")
        .arg(&pw)
        .args(["--totp-secret", &totp::base32(&u.totp), "--alerts"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 (scripts/setup installs grpcio)");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            eprintln!("python: {line}");
            lines.push(line);
        }
        lines
    });
    // Publish once the client follows the stream, as the hotlist matcher would on a hit.
    let mut published = false;
    for _ in 0..1500 {
        if f.hub.alert_subscribers() > 0 {
            f.hub.publish_alert(AlertEvent {
                agency: "north".into(),
                read_id: f.read_ids[1],
                hotlist_id: 1,
                hotlist_name: "stolen".into(),
                entry_id: 1,
                plate: "AB12CDF".into(),
                camera: "gate-2".into(),
                captured_at_ms: 1,
                covert: false,
                match_kind: "exact".into(),
                retroactive: false,
            });
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let lines = lines.await.unwrap();
    assert!(published, "the Python client never subscribed to alerts");
    assert!(status.success(), "python client failed: {lines:?}");
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["found"]["exact"], 2);
    assert_eq!(last["found"]["wildcard"], 3);
    assert_eq!(last["alert"]["plate"], "AB12CDF");
    // The server's log has the Python client's calls.
    let e = f.last_audit("north", "/custos.v1.Reads/Search");
    assert_eq!(e.principal, "jane");
    // The alert stream is audited when it opens and when the client closes it, with the one
    // alert it delivered.
    let closed = f
        .wait_for_audit("north", "/custos.v1.Hotlists/StreamAlerts", "stream ended")
        .await;
    assert_eq!(
        (closed.outcome.as_str(), closed.result_count),
        ("stream ended: closed by the client", 1)
    );
}
