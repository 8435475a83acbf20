//! Store records ↔ protobuf messages.

use custos_store::audit::AuditRecord;
use custos_store::records::{
    Hotlist, HotlistEntry, LegalRequest, LegalRequestKind, NotificationStatus, SharingGrant,
};
use custos_store::{Camera, HIT, LegalHold, Read, RetentionPolicy};
use tonic::Status;

use crate::pb;

/// A request's time range, checked: both ends within [`MAX_TIME_MS`], `from_ms` not after
/// `to_ms` when both are given (0 means "not given").
///
/// [`MAX_TIME_MS`]: custos_store::clock::MAX_TIME_MS
pub fn time_range(t: Option<pb::TimeRange>) -> Result<pb::TimeRange, Status> {
    let t = t.unwrap_or_default();
    for (field, ms) in [("time.from_ms", t.from_ms), ("time.to_ms", t.to_ms)] {
        if ms > custos_store::clock::MAX_TIME_MS {
            return Err(Status::invalid_argument(format!(
                "{field} = {ms} is after the year 9999"
            )));
        }
    }
    if t.to_ms != 0 && t.from_ms > t.to_ms {
        return Err(Status::invalid_argument("time: from_ms is after to_ms"));
    }
    Ok(t)
}

pub fn read(agency: &str, r: Read, with_crop: bool) -> pb::Read {
    pb::Read {
        id: r.id.0,
        camera: r.camera,
        captured_at_ms: r.captured_at_ms,
        plate: r.plate,
        confidence: r.confidence,
        char_confidences: r.char_confidences,
        candidates: r
            .candidates
            .into_iter()
            .map(|c| pb::PlateCandidate {
                text: c.text,
                score: c.score,
            })
            .collect(),
        plate_box: r.plate_box.to_vec(),
        track_id: r.track_id,
        hit: r.hit_flags & HIT != 0,
        held: r.held,
        crop_jpeg: if with_crop {
            r.crop_jpeg.unwrap_or_default()
        } else {
            Vec::new()
        },
        agency: agency.into(),
    }
}

pub fn entry(id: u64, e: HotlistEntry) -> pb::HotlistEntry {
    pb::HotlistEntry {
        id,
        hotlist_id: e.hotlist_id,
        plate: e.plate,
        note: e.note,
        covert: e.covert,
        expires_at_ms: e.expires_at_ms.unwrap_or(0),
    }
}

pub fn hotlist(id: u64, l: Hotlist, entries: Vec<pb::HotlistEntry>) -> pb::Hotlist {
    pb::Hotlist {
        id,
        name: l.name,
        description: l.description,
        covert: l.covert,
        entries,
    }
}

pub fn camera(c: Camera) -> pb::Camera {
    pb::Camera {
        id: c.id,
        name: c.name,
        url: c.url,
        enabled: c.enabled,
        configured: false,
    }
}

pub fn grant(id: u64, g: SharingGrant) -> pb::SharingGrant {
    pb::SharingGrant {
        id,
        to_agency: g.to_agency,
        scope: g.scope,
        cameras: g.cameras,
        window: Some(pb::TimeRange {
            from_ms: g.window_from_ms,
            to_ms: if g.window_to_ms == u64::MAX {
                0
            } else {
                g.window_to_ms
            },
        }),
        granted_by: g.granted_by,
        granted_at_ms: g.granted_at_ms,
        expires_at_ms: g.expires_at_ms.unwrap_or(0),
        revoked_at_ms: g.revoked_at_ms.unwrap_or(0),
    }
}

pub fn hold(h: LegalHold) -> pb::LegalHold {
    pb::LegalHold {
        id: h.id,
        case_number: h.case_number,
        reason: h.reason,
        placed_by: h.placed_by,
        placed_at_ms: h.placed_at_ms,
        read_ids: h.read_ids.into_iter().map(|r| r.0).collect(),
        released_at_ms: h.released_at_ms.unwrap_or(0),
    }
}

pub fn retention(p: RetentionPolicy) -> pb::RetentionPolicy {
    pb::RetentionPolicy {
        reads_days: p.reads_days,
        hits_days: p.hits_days,
        hit_only_minutes: p.hit_only_minutes.unwrap_or(0),
        audit_days: p.audit_days,
    }
}

pub fn retention_from(p: &pb::RetentionPolicy) -> RetentionPolicy {
    RetentionPolicy {
        reads_days: p.reads_days,
        hits_days: p.hits_days,
        hit_only_minutes: Some(p.hit_only_minutes).filter(|m| *m > 0),
        audit_days: p.audit_days,
    }
}

pub fn purposes(p: custos_store::PurposePolicy) -> pb::PurposePolicy {
    pb::PurposePolicy {
        allowed: p
            .allowed
            .into_iter()
            .map(|p| pb::Purpose {
                name: p.name,
                case_required: p.case_required,
            })
            .collect(),
        prohibited: p.prohibited,
    }
}

pub fn purposes_from(p: &pb::PurposePolicy) -> custos_store::PurposePolicy {
    custos_store::PurposePolicy {
        allowed: p
            .allowed
            .iter()
            .map(|p| custos_store::Purpose {
                name: p.name.trim().into(),
                case_required: p.case_required,
            })
            .collect(),
        prohibited: p.prohibited.iter().map(|s| s.trim().to_owned()).collect(),
    }
}

fn kind_str(k: LegalRequestKind) -> &'static str {
    match k {
        LegalRequestKind::CourtOrder => "court_order",
        LegalRequestKind::Subpoena => "subpoena",
        LegalRequestKind::Warrant => "warrant",
        LegalRequestKind::Other => "other",
    }
}

pub fn legal_kind(s: &str) -> Result<LegalRequestKind, Status> {
    Ok(match s {
        "court_order" => LegalRequestKind::CourtOrder,
        "subpoena" => LegalRequestKind::Subpoena,
        "warrant" => LegalRequestKind::Warrant,
        "other" => LegalRequestKind::Other,
        _ => {
            return Err(Status::invalid_argument(format!(
                "kind {s:?}: court_order, subpoena, warrant or other"
            )));
        }
    })
}

pub fn notification(s: &str, at_ms: u64) -> Result<NotificationStatus, Status> {
    Ok(match s {
        "not_required" => NotificationStatus::NotRequired,
        "pending" | "" => NotificationStatus::Pending,
        "delayed" => NotificationStatus::Delayed { until_ms: at_ms },
        "notified" => NotificationStatus::Notified { at_ms },
        _ => {
            return Err(Status::invalid_argument(format!(
                "notification {s:?}: not_required, pending, delayed or notified"
            )));
        }
    })
}

pub fn legal_request(id: u64, r: LegalRequest) -> pb::LegalRequest {
    let (notification, at) = match r.notification {
        NotificationStatus::NotRequired => ("not_required", 0),
        NotificationStatus::Pending => ("pending", 0),
        NotificationStatus::Delayed { until_ms } => ("delayed", until_ms),
        NotificationStatus::Notified { at_ms } => ("notified", at_ms),
    };
    pb::LegalRequest {
        id,
        kind: kind_str(r.kind).into(),
        reference: r.reference,
        issuing_authority: r.issuing_authority,
        case_number: r.case_number.unwrap_or_default(),
        received_at_ms: r.received_at_ms,
        scope: r.scope,
        notification: notification.into(),
        notification_at_ms: at,
    }
}

/// An audit entry; `parameters` withheld from callers who may not see plate data.
pub fn audit_entry(r: AuditRecord, show_parameters: bool) -> pb::AuditEntry {
    let b = r.body;
    pb::AuditEntry {
        seq: b.seq,
        time_ms: b.time_ms,
        agency: b.agency,
        principal: b.principal,
        action: b.action,
        target: b.target,
        reason: b.reason,
        case_number: b.case_number.unwrap_or_default(),
        parameters: if show_parameters {
            b.parameters
        } else {
            REDACTED.into()
        },
        result_count: b.result_count,
        outcome: b.outcome,
        hash: r.hash,
        prev_hash: b.prev_hash,
    }
}

pub const REDACTED: &str = "\"[redacted: may name plates]\"";
