//! SIGKILL a writer process mid-ingest, many times; every acknowledged read must survive and the
//! audit chain must verify. The test re-executes its own binary as the writer.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use custos_store::{Access, AgencyStore, Layout, ReadId};

const WRITER_ENV: &str = "CUSTOS_STORE_CRASH_WRITER";
const KILLS: usize = 12;

/// The writer: ingests batches forever, printing "ack FIRST LAST" after each commit.
fn writer(dir: &str) {
    let layout = Layout::new(dir);
    let clock = custos_store::ManualClock::new(T0);
    let store = AgencyStore::open(&layout, "north", opts(&clock)).unwrap();
    let mut out = std::io::stdout();
    for n in 0u64.. {
        let batch: Vec<_> = (0..200)
            .map(|i| {
                read(
                    &format!("CR{:05}", (n * 200 + i) % 99_999),
                    T0 + n * 1000 + i,
                )
            })
            .collect();
        let ids = store.ingest(&batch).unwrap();
        store
            .audit(Access::new("writer", "crash test").event_for("batch", n))
            .unwrap();
        writeln!(out, "ack {} {}", ids[0].0, ids[ids.len() - 1].0).unwrap();
        out.flush().unwrap();
    }
}

trait EventFor {
    fn event_for(&self, action: &str, n: u64) -> custos_store::audit::AuditEvent;
}
impl EventFor for Access {
    fn event_for(&self, action: &str, n: u64) -> custos_store::audit::AuditEvent {
        custos_store::audit::AuditEvent {
            principal: self.principal.clone(),
            action: action.into(),
            target: format!("batch/{n}"),
            reason: self.reason.clone(),
            parameters: "{}".into(),
            outcome: "ok".into(),
            ..Default::default()
        }
    }
}

#[test]
fn sigkill_mid_ingest_loses_no_acknowledged_read() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        writer(&dir);
        return;
    }
    let started = Instant::now();
    let f = fixture();
    drop(f.store); // redb allows one writer process
    let mut acked: Vec<(u64, u64)> = Vec::new();
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_mid_ingest_loses_no_acknowledged_read",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, f.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ack ") {
                    let mut it = rest.split(' ').map(|x| x.parse::<u64>().unwrap());
                    let _ = tx.send((it.next().unwrap(), it.next().unwrap()));
                }
            }
        });
        // Wait for the writer to be mid-stream, then kill it at a varying moment.
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("writer acknowledged nothing");
        acked.push(first);
        std::thread::sleep(Duration::from_millis(30 + 37 * round as u64 % 200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.try_iter());

        let store = AgencyStore::open(&f.layout, "north", opts(&f.clock)).unwrap();
        let who = Access::new("checker", "crash test");
        for &(a, b) in &acked {
            for id in [a, b] {
                assert!(
                    store.get_read(&who, ReadId(id)).unwrap().is_some(),
                    "round {round}: acknowledged read {id} is missing"
                );
            }
        }
        let report = store.verify_audit().unwrap();
        assert!(report.ok(), "round {round}: {report}");
        let expected: u64 = acked.iter().map(|(a, b)| b - a + 1).sum();
        assert!(store.count_reads().unwrap() >= expected);
    }
    assert!(
        acked.len() > KILLS,
        "the writer must have been killed mid-stream"
    );
    eprintln!(
        "{KILLS} kills, {} acknowledged batches, {:.1} s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}
