//! Audit: Query, Verify, Export of the caller's agency log. Parameters (which may name plates)
//! go only to roles that may see plate data.

use custos_store::audit::AuditRecord;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{BoxStream, caller, on_store, page, paging};
use crate::convert;
use crate::gate::Caller;
use crate::pb;
use crate::policy::Permission;

const EXPORT_CHUNK: usize = 64 << 10;
/// Entries read per read transaction.
const EXPORT_PAGE: usize = 1024;

pub struct AuditSvc;

async fn entries(c: &Caller, time: Option<pb::TimeRange>) -> Result<Vec<AuditRecord>, Status> {
    let t = convert::time_range(time)?;
    let to = if t.to_ms == 0 { u64::MAX } else { t.to_ms };
    Ok(on_store(c, move |store| store.audit_log())
        .await?
        .records
        .into_iter()
        .filter(|r| (t.from_ms..=to).contains(&r.body.time_ms))
        .collect())
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditSvc {
    async fn query(
        &self,
        req: Request<pb::AuditQueryRequest>,
    ) -> Result<Response<pb::AuditQueryResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let (size, offset) = paging(r.page_size, &r.page_token)?;
        let show = c.can(Permission::ReadsSearch);
        let all: Vec<AuditRecord> = entries(&c, r.time)
            .await?
            .into_iter()
            .filter(|e| r.principal.is_empty() || e.body.principal == r.principal)
            .filter(|e| r.action.is_empty() || e.body.action == r.action)
            .collect();
        let (entries, next) = page(all, size, offset);
        c.set_result_count(entries.len() as u64);
        Ok(Response::new(pb::AuditQueryResponse {
            entries: entries
                .into_iter()
                .map(|e| convert::audit_entry(e, show))
                .collect(),
            next_page_token: next,
        }))
    }

    async fn verify(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::AuditVerifyResponse>, Status> {
        let c = caller(&req)?;
        let report = on_store(&c, move |store| store.verify_audit()).await?;
        c.set_result_count(report.entries as u64);
        Ok(Response::new(pb::AuditVerifyResponse {
            ok: report.ok(),
            entries: report.entries as u64,
            problems: report.problems.iter().map(|p| p.to_string()).collect(),
        }))
    }

    type ExportStream = BoxStream<pb::AuditExportChunk>;

    /// Streams the log page by page, each page in its own read transaction: a long export
    /// holds no lock and no snapshot, and its memory is one page, whatever the log's size.
    async fn export(
        &self,
        req: Request<pb::AuditExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let c = caller(&req)?;
        let t = convert::time_range(req.into_inner().time)?;
        let to = if t.to_ms == 0 { u64::MAX } else { t.to_ms };
        let show = c.can(Permission::ReadsSearch);
        // (chunk, entries in it): the entries are counted when the transport takes the chunk.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<(Vec<u8>, u64), Status>>(2);
        let store = c.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut from = 0;
            let mut buf = Vec::new();
            let mut in_buf = 0;
            loop {
                let page = match store.audit_page(from, EXPORT_PAGE) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(crate::error::store_status(&e)));
                        return;
                    }
                };
                let Some(last) = page.last() else { break };
                from = last.body.seq + 1;
                for mut r in page {
                    if !(t.from_ms..=to).contains(&r.body.time_ms) {
                        continue;
                    }
                    if !show {
                        r.body.parameters = convert::REDACTED.into();
                    }
                    // Serialising a plain struct cannot fail.
                    buf.extend_from_slice(&serde_json::to_vec(&r).unwrap_or_default());
                    buf.push(b'\n');
                    in_buf += 1;
                    if buf.len() >= EXPORT_CHUNK {
                        let chunk = (std::mem::take(&mut buf), std::mem::take(&mut in_buf));
                        if tx.blocking_send(Ok(chunk)).is_err() {
                            return; // the client went away
                        }
                    }
                }
            }
            if !buf.is_empty() {
                let _ = tx.blocking_send(Ok((buf, in_buf)));
            }
        });
        let stream = ReceiverStream::new(rx).map(move |chunk| {
            chunk.map(|(jsonl, entries)| {
                c.count_delivered(entries);
                pb::AuditExportChunk { jsonl }
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
