//! What a call carries into its audit entry: [`CallParams`], drawn from the request message by
//! [`Audited`] — its Debug form (plate patterns included), with secrets redacted by hand-written
//! Debug impls and long values truncated so a hostile request cannot bloat the log, and the
//! justification, target agency and login it names.

use std::fmt;

use crate::pb;

/// What the gate learns from a request message before the handler runs.
#[derive(Clone, Debug, Default)]
pub struct CallParams {
    /// JSON text for the audit entry (secrets redacted, long values truncated).
    pub parameters: String,
    pub reason: Option<String>,
    pub case_number: Option<String>,
    /// Another agency whose data the call asks for.
    pub target_agency: Option<String>,
    /// The agency and username a Login names.
    pub login_agency: Option<String>,
    pub login_user: Option<String>,
}

/// Longest parameters text kept in an audit entry.
const MAX_PARAMS: usize = 2048;

pub trait Audited: fmt::Debug {
    fn justification(&self) -> Option<&pb::Justification> {
        None
    }
    fn target_agency(&self) -> Option<&str> {
        None
    }
    fn login(&self) -> Option<(&str, &str)> {
        None
    }

    fn call_params(&self) -> CallParams {
        let mut text = format!("{self:?}");
        if text.len() > MAX_PARAMS {
            let total = text.len();
            let mut cut = MAX_PARAMS;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(&format!("…(truncated; {total} bytes)"));
        }
        let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        CallParams {
            parameters: serde_json::json!({ "request": text }).to_string(),
            reason: self.justification().and_then(|j| nonempty(&j.reason)),
            case_number: self.justification().and_then(|j| nonempty(&j.case_number)),
            target_agency: self.target_agency().and_then(nonempty),
            login_agency: self.login().and_then(|(a, _)| nonempty(a)),
            login_user: self.login().and_then(|(_, u)| nonempty(u)),
        }
    }
}

macro_rules! plain {
    ($($t:ty),* $(,)?) => { $(impl Audited for $t {})* };
}

plain!(
    pb::Empty,
    pb::EnrollTotpRequest,
    pb::ChangePasswordRequest,
    pb::StreamLiveRequest,
    pb::CreateHotlistRequest,
    pb::ListHotlistsRequest,
    pb::HotlistId,
    pb::AddEntryRequest,
    pb::EntryId,
    pb::ImportCsvRequest,
    pb::StreamAlertsRequest,
    pb::Camera,
    pb::CameraId,
    pb::AuditQueryRequest,
    pb::AuditExportRequest,
    pb::CreatePrincipalRequest,
    pb::UpdatePrincipalRequest,
    pb::RetentionPolicy,
    pb::PurposePolicy,
    pb::RolePolicy,
    pb::CreateGrantRequest,
    pb::IdRequest,
    pb::PlaceHoldRequest,
    pb::LegalRequest,
    pb::SetNotificationRequest,
    pb::TransparencyRequest,
    tonic_health::pb::HealthCheckRequest,
);

impl Audited for pb::SearchRequest {
    fn justification(&self) -> Option<&pb::Justification> {
        self.justification.as_ref()
    }
    fn target_agency(&self) -> Option<&str> {
        Some(&self.agency)
    }
}

impl Audited for pb::GetRequest {
    fn justification(&self) -> Option<&pb::Justification> {
        self.justification.as_ref()
    }
    fn target_agency(&self) -> Option<&str> {
        Some(&self.agency)
    }
}

impl Audited for pb::LoginRequest {
    fn login(&self) -> Option<(&str, &str)> {
        Some((&self.agency, &self.username))
    }
}

impl fmt::Debug for pb::LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("agency", &self.agency)
            .field("password", &"<redacted>")
            .field("totp_code", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for pb::EnrollTotpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollTotpRequest")
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for pb::ChangePasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("current_password", &"<redacted>")
            .field("new_password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for pb::CreatePrincipalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatePrincipalRequest")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_log_and_long_values_are_cut() {
        let login = pb::LoginRequest {
            username: "jane".into(),
            password: "hunter2hunter2".into(),
            totp_code: "123456".into(),
            agency: "north".into(),
        };
        let p = login.call_params();
        assert!(!p.parameters.contains("hunter2") && !p.parameters.contains("123456"));
        assert_eq!(p.login_user.as_deref(), Some("jane"));
        let search = pb::SearchRequest {
            query: Some(pb::PlateQuery {
                kind: Some(pb::plate_query::Kind::Wildcard("*?".repeat(5000))),
            }),
            justification: Some(pb::Justification {
                reason: "stolen_vehicle".into(),
                case_number: String::new(),
            }),
            ..Default::default()
        };
        let p = search.call_params();
        assert!(p.parameters.len() < MAX_PARAMS + 100);
        assert!(p.parameters.contains("truncated"));
        assert_eq!(p.reason.as_deref(), Some("stolen_vehicle"));
        assert_eq!(p.case_number, None);
        assert_eq!(p.target_agency, None);
    }
}
