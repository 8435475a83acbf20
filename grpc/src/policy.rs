//! Roles, permissions and the method → permission table. The table is the whole access policy:
//! a method that is not in it is refused (deny by default), and a unit test fails when the proto
//! gains a method the table does not name.

use prost::Message;

use crate::pb;
use crate::redact::Audited;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Log out, change one's own TOTP.
    OwnSession,
    /// Search and fetch reads (plate data).
    ReadsSearch,
    ReadsLive,
    HotlistsRead,
    HotlistsWrite,
    /// See covert lists and entries, and their alerts.
    HotlistsCovert,
    AlertsStream,
    CamerasRead,
    CamerasWrite,
    AuditRead,
    AdminPrincipals,
    AdminPolicy,
    AdminSharing,
    AdminHolds,
    AdminLegal,
    Transparency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Supervisor,
    Investigator,
    Operator,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Supervisor,
        Role::Investigator,
        Role::Operator,
        Role::Auditor,
    ];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Investigator => "investigator",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// Least privilege: admin administers but does not read plate data; operators only watch
    /// alerts; auditors see the audit log (parameters redacted) and counts, never plate data.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[
                OwnSession,
                HotlistsRead,
                HotlistsWrite,
                HotlistsCovert,
                CamerasRead,
                CamerasWrite,
                AuditRead,
                AdminPrincipals,
                AdminPolicy,
                AdminSharing,
                AdminHolds,
                AdminLegal,
                Transparency,
            ],
            Role::Supervisor => &[
                OwnSession,
                ReadsSearch,
                ReadsLive,
                HotlistsRead,
                HotlistsWrite,
                HotlistsCovert,
                AlertsStream,
                CamerasRead,
                AuditRead,
                AdminHolds,
                AdminLegal,
                Transparency,
            ],
            Role::Investigator => &[
                OwnSession,
                ReadsSearch,
                HotlistsRead,
                AlertsStream,
                CamerasRead,
            ],
            Role::Operator => &[OwnSession, AlertsStream],
            Role::Auditor => &[OwnSession, AuditRead, Transparency],
        }
    }

    pub fn allows(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

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

pub type Decode = fn(&[u8]) -> Result<CallParams, prost::DecodeError>;

/// How the gate treats one method.
pub struct MethodRule {
    pub path: &'static str,
    /// None: no session needed (Login, health, reflection); the client certificate still is.
    pub permission: Option<Permission>,
    /// Needs a justification checked against the agency's purposes.
    pub justified: bool,
    /// May name another agency's data (under a sharing grant).
    pub cross_agency: bool,
    /// None for client-streaming methods (the body is not buffered).
    pub decode: Option<Decode>,
}

fn decode<M: Message + Default + Audited>(bytes: &[u8]) -> Result<CallParams, prost::DecodeError> {
    M::decode(bytes).map(|m| m.call_params())
}

impl MethodRule {
    const fn new(path: &'static str, permission: Option<Permission>, decode: Decode) -> Self {
        Self {
            path,
            permission,
            justified: false,
            cross_agency: false,
            decode: Some(decode),
        }
    }
    const fn justified(mut self) -> Self {
        self.justified = true;
        self
    }
    const fn cross_agency(mut self) -> Self {
        self.cross_agency = true;
        self
    }
}

use Permission as P;

pub static METHODS: &[MethodRule] = &[
    MethodRule::new("/custos.v1.Auth/Login", None, decode::<pb::LoginRequest>),
    MethodRule::new(
        "/custos.v1.Auth/Logout",
        Some(P::OwnSession),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Auth/EnrollTotp",
        Some(P::OwnSession),
        decode::<pb::EnrollTotpRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Reads/Search",
        Some(P::ReadsSearch),
        decode::<pb::SearchRequest>,
    )
    .justified()
    .cross_agency(),
    MethodRule::new(
        "/custos.v1.Reads/Get",
        Some(P::ReadsSearch),
        decode::<pb::GetRequest>,
    )
    .justified()
    .cross_agency(),
    MethodRule::new(
        "/custos.v1.Reads/StreamLive",
        Some(P::ReadsLive),
        decode::<pb::StreamLiveRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/CreateHotlist",
        Some(P::HotlistsWrite),
        decode::<pb::CreateHotlistRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/ListHotlists",
        Some(P::HotlistsRead),
        decode::<pb::ListHotlistsRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/DeleteHotlist",
        Some(P::HotlistsWrite),
        decode::<pb::HotlistId>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/AddEntry",
        Some(P::HotlistsWrite),
        decode::<pb::AddEntryRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/RemoveEntry",
        Some(P::HotlistsWrite),
        decode::<pb::EntryId>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/ImportCsv",
        Some(P::HotlistsWrite),
        decode::<pb::ImportCsvRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Hotlists/StreamAlerts",
        Some(P::AlertsStream),
        decode::<pb::StreamAlertsRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Cameras/ListCameras",
        Some(P::CamerasRead),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Cameras/AddCamera",
        Some(P::CamerasWrite),
        decode::<pb::Camera>,
    ),
    MethodRule::new(
        "/custos.v1.Cameras/UpdateCamera",
        Some(P::CamerasWrite),
        decode::<pb::Camera>,
    ),
    MethodRule::new(
        "/custos.v1.Cameras/RemoveCamera",
        Some(P::CamerasWrite),
        decode::<pb::CameraId>,
    ),
    MethodRule::new(
        "/custos.v1.Cameras/CameraStatus",
        Some(P::CamerasRead),
        decode::<pb::CameraId>,
    ),
    MethodRule::new(
        "/custos.v1.Audit/Query",
        Some(P::AuditRead),
        decode::<pb::AuditQueryRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Audit/Verify",
        Some(P::AuditRead),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Audit/Export",
        Some(P::AuditRead),
        decode::<pb::AuditExportRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/ListPrincipals",
        Some(P::AdminPrincipals),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/CreatePrincipal",
        Some(P::AdminPrincipals),
        decode::<pb::CreatePrincipalRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/UpdatePrincipal",
        Some(P::AdminPrincipals),
        decode::<pb::UpdatePrincipalRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/GetRetentionPolicy",
        Some(P::AdminPolicy),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/SetRetentionPolicy",
        Some(P::AdminPolicy),
        decode::<pb::RetentionPolicy>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/GetPurposePolicy",
        Some(P::AdminPolicy),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/SetPurposePolicy",
        Some(P::AdminPolicy),
        decode::<pb::PurposePolicy>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/ListGrants",
        Some(P::AdminSharing),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/CreateGrant",
        Some(P::AdminSharing),
        decode::<pb::CreateGrantRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/RevokeGrant",
        Some(P::AdminSharing),
        decode::<pb::IdRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/ListHolds",
        Some(P::AdminHolds),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/PlaceHold",
        Some(P::AdminHolds),
        decode::<pb::PlaceHoldRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/ReleaseHold",
        Some(P::AdminHolds),
        decode::<pb::IdRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/ListLegalRequests",
        Some(P::AdminLegal),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/RegisterLegalRequest",
        Some(P::AdminLegal),
        decode::<pb::LegalRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/SetNotification",
        Some(P::AdminLegal),
        decode::<pb::SetNotificationRequest>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/TransparencyReport",
        Some(P::Transparency),
        decode::<pb::TransparencyRequest>,
    ),
    MethodRule::new(
        "/grpc.health.v1.Health/Check",
        None,
        decode::<tonic_health::pb::HealthCheckRequest>,
    ),
    MethodRule::new(
        "/grpc.health.v1.Health/Watch",
        None,
        decode::<tonic_health::pb::HealthCheckRequest>,
    ),
];

/// Reflection is bidirectional streaming: its body is passed through, not buffered.
pub static STREAMING: &[MethodRule] = &[
    MethodRule {
        path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        permission: None,
        justified: false,
        cross_agency: false,
        decode: None,
    },
    MethodRule {
        path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        permission: None,
        justified: false,
        cross_agency: false,
        decode: None,
    },
];

pub fn rule(path: &str) -> Option<&'static MethodRule> {
    METHODS
        .iter()
        .chain(STREAMING.iter())
        .find(|r| r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method of every custos.v1 service has a rule: a new RPC cannot slip past the gate.
    #[test]
    fn every_method_has_a_rule() {
        let set = prost_types_lite::decode(pb::FILE_DESCRIPTOR_SET);
        assert!(set.len() > 30, "descriptor lists {} methods", set.len());
        for path in set {
            assert!(rule(&path).is_some(), "{path} has no permission rule");
        }
    }

    #[test]
    fn least_privilege() {
        assert!(!Role::Auditor.allows(Permission::ReadsSearch));
        assert!(!Role::Admin.allows(Permission::ReadsSearch));
        assert_eq!(
            Role::Operator.permissions(),
            &[Permission::OwnSession, Permission::AlertsStream]
        );
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(rule("/custos.v1.Reads/Nope").is_none());
    }

    /// Just enough of descriptor.proto to list service methods, without a prost-types
    /// dependency.
    mod prost_types_lite {
        use super::*;

        #[derive(Clone, PartialEq, prost::Message)]
        struct Set {
            #[prost(message, repeated, tag = "1")]
            file: Vec<File>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct File {
            #[prost(string, optional, tag = "2")]
            package: Option<String>,
            #[prost(message, repeated, tag = "6")]
            service: Vec<Service>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Service {
            #[prost(string, optional, tag = "1")]
            name: Option<String>,
            #[prost(message, repeated, tag = "2")]
            method: Vec<Method>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Method {
            #[prost(string, optional, tag = "1")]
            name: Option<String>,
        }

        pub fn decode(bytes: &[u8]) -> Vec<String> {
            let set = Set::decode(bytes).unwrap();
            let mut out = Vec::new();
            for f in set.file {
                for s in f.service {
                    for m in s.method {
                        out.push(format!(
                            "/{}.{}/{}",
                            f.package.clone().unwrap_or_default(),
                            s.name.clone().unwrap_or_default(),
                            m.name.unwrap_or_default()
                        ));
                    }
                }
            }
            out
        }
    }
}
