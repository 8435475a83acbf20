//! Group commit for the audit log: one writer thread per agency takes every entry waiting and
//! appends them in one durable transaction, then answers each caller. A call still does not
//! return until its entry is committed; concurrent calls share the commit instead of queueing
//! for one each.

use std::sync::Arc;

use custos_store::AgencyStore;
use custos_store::audit::AuditEvent;
use tokio::sync::{mpsc, oneshot};

/// Entries committed together at most.
const MAX_BATCH: usize = 512;

type Job = (AuditEvent, oneshot::Sender<Result<(), String>>);

#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer thread of `store`; it ends when the last handle is dropped.
    pub fn start(store: Arc<AgencyStore>) -> std::io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name(format!("audit-{}", store.agency()))
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    let (events, waiters): (Vec<AuditEvent>, Vec<_>) = jobs.into_iter().unzip();
                    let result = store.audit_batch(&events).map_err(|e| e.to_string());
                    for w in waiters {
                        let _ = w.send(result.clone());
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Appends `ev`; returns once it is committed.
    pub async fn write(&self, ev: AuditEvent) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((ev, done))
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "the audit writer stopped".to_owned())?
    }
}
