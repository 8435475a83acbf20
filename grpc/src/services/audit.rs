//! Audit: Query, Verify, Export of the caller's agency log. Parameters (which may name plates)
//! go only to roles that may see plate data.

use custos_store::audit::AuditRecord;
use tonic::{Request, Response, Status};

use super::{BoxStream, caller, on_store, page, paging};
use crate::convert;
use crate::gate::Caller;
use crate::pb;
use crate::policy::Permission;

const EXPORT_CHUNK: usize = 64 << 10;

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

    async fn export(
        &self,
        req: Request<pb::AuditExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let c = caller(&req)?;
        let show = c.can(Permission::ReadsSearch);
        let all = entries(&c, req.into_inner().time).await?;
        c.set_result_count(all.len() as u64);
        let mut chunks = Vec::new();
        let mut buf = Vec::new();
        for r in all {
            let mut r = r;
            if !show {
                r.body.parameters = convert::REDACTED.into();
            }
            // Serialising a plain struct cannot fail.
            buf.extend_from_slice(&serde_json::to_vec(&r).unwrap_or_default());
            buf.push(b'\n');
            if buf.len() >= EXPORT_CHUNK {
                chunks.push(Ok(pb::AuditExportChunk {
                    jsonl: std::mem::take(&mut buf),
                }));
            }
        }
        if !buf.is_empty() {
            chunks.push(Ok(pb::AuditExportChunk { jsonl: buf }));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}
