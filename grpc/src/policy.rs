//! Roles, permissions and the method → permission table. The table is the whole access policy:
//! a method that is not in it is refused (deny by default), and a unit test fails when the proto
//! gains a method the table does not name.

use prost::Message;

use crate::audited::{Audited, CallParams};
use crate::pb;

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

impl Permission {
    pub const ALL: [Permission; 16] = [
        Permission::OwnSession,
        Permission::ReadsSearch,
        Permission::ReadsLive,
        Permission::HotlistsRead,
        Permission::HotlistsWrite,
        Permission::HotlistsCovert,
        Permission::AlertsStream,
        Permission::CamerasRead,
        Permission::CamerasWrite,
        Permission::AuditRead,
        Permission::AdminPrincipals,
        Permission::AdminPolicy,
        Permission::AdminSharing,
        Permission::AdminHolds,
        Permission::AdminLegal,
        Permission::Transparency,
    ];

    pub fn as_str(self) -> &'static str {
        use Permission::*;
        match self {
            OwnSession => "own_session",
            ReadsSearch => "reads_search",
            ReadsLive => "reads_live",
            HotlistsRead => "hotlists_read",
            HotlistsWrite => "hotlists_write",
            HotlistsCovert => "hotlists_covert",
            AlertsStream => "alerts_stream",
            CamerasRead => "cameras_read",
            CamerasWrite => "cameras_write",
            AuditRead => "audit_read",
            AdminPrincipals => "admin_principals",
            AdminPolicy => "admin_policy",
            AdminSharing => "admin_sharing",
            AdminHolds => "admin_holds",
            AdminLegal => "admin_legal",
            Transparency => "transparency",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Permissions that reveal plates: never for auditors, whatever an agency configures.
    pub fn plate_data(self) -> bool {
        use Permission::*;
        matches!(
            self,
            ReadsSearch | ReadsLive | HotlistsRead | HotlistsWrite | HotlistsCovert | AlertsStream
        )
    }
}

/// One agency's roles → permissions: the defaults of [`Role::permissions`], with the roles the
/// agency has configured (`Admin.SetRolePolicy`) replaced.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleTable(std::collections::HashMap<Role, Vec<Permission>>);

impl Default for RoleTable {
    fn default() -> Self {
        Self(
            Role::ALL
                .into_iter()
                .map(|r| (r, r.permissions().to_vec()))
                .collect(),
        )
    }
}

/// Why an agency's role overrides are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolePolicyError {
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("unknown permission {0:?}")]
    UnknownPermission(String),
    #[error("auditors never get plate data ({0})")]
    AuditorPlateData(&'static str),
    #[error("admin must keep {0} (or nobody could undo this)")]
    AdminLockout(&'static str),
}

impl RoleTable {
    /// The defaults with `overrides` (role name → permission names) applied, or what is wrong.
    pub fn with_overrides(overrides: &custos_store::RolePolicy) -> Result<Self, RolePolicyError> {
        let mut t = Self::default();
        for (role, perms) in overrides {
            let r = Role::parse(role).ok_or_else(|| RolePolicyError::UnknownRole(role.clone()))?;
            let mut ps = Vec::new();
            for p in perms {
                let p = Permission::parse(p)
                    .ok_or_else(|| RolePolicyError::UnknownPermission(p.clone()))?;
                if r == Role::Auditor && p.plate_data() {
                    return Err(RolePolicyError::AuditorPlateData(p.as_str()));
                }
                if !ps.contains(&p) {
                    ps.push(p);
                }
            }
            t.0.insert(r, ps);
        }
        for p in [Permission::AdminPrincipals, Permission::AdminPolicy] {
            if !t.allows(Role::Admin, p) {
                return Err(RolePolicyError::AdminLockout(p.as_str()));
            }
        }
        Ok(t)
    }

    pub fn allows(&self, role: Role, p: Permission) -> bool {
        self.0.get(&role).is_some_and(|ps| ps.contains(&p))
    }

    /// Every role with its permission names, in a stable order.
    pub fn describe(&self) -> Vec<(Role, Vec<&'static str>)> {
        Role::ALL
            .into_iter()
            .map(|r| {
                let ps = self.0.get(&r).map(Vec::as_slice).unwrap_or(&[]);
                (r, ps.iter().map(|p| p.as_str()).collect())
            })
            .collect()
    }
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
    /// Server-streaming: audited when it opens and again when it ends, with what it delivered.
    pub streaming: bool,
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
            streaming: false,
        }
    }
    const fn streaming(mut self) -> Self {
        self.streaming = true;
        self
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
        "/custos.v1.Auth/ChangePassword",
        Some(P::OwnSession),
        decode::<pb::ChangePasswordRequest>,
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
    )
    .streaming(),
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
    )
    .streaming(),
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
    )
    .streaming(),
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
        "/custos.v1.Admin/GetRolePolicy",
        Some(P::AdminPolicy),
        decode::<pb::Empty>,
    ),
    MethodRule::new(
        "/custos.v1.Admin/SetRolePolicy",
        Some(P::AdminPolicy),
        decode::<pb::RolePolicy>,
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
        streaming: false,
    },
    MethodRule {
        path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        permission: None,
        justified: false,
        cross_agency: false,
        decode: None,
        streaming: false,
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
        let t = RoleTable::default();
        assert!(!t.allows(Role::Auditor, Permission::ReadsSearch));
        assert!(!t.allows(Role::Admin, Permission::ReadsSearch));
        assert_eq!(
            Role::Operator.permissions(),
            &[Permission::OwnSession, Permission::AlertsStream]
        );
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(rule("/custos.v1.Reads/Nope").is_none());
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn agency_overrides() {
        let o = |role: &str, ps: &[&str]| -> custos_store::RolePolicy {
            [(role.to_owned(), ps.iter().map(|p| p.to_string()).collect())].into()
        };
        let t = RoleTable::with_overrides(&o("investigator", &["own_session"])).unwrap();
        assert!(!t.allows(Role::Investigator, Permission::ReadsSearch));
        assert!(t.allows(Role::Supervisor, Permission::ReadsSearch));
        assert!(RoleTable::with_overrides(&o("auditor", &["reads_search"])).is_err());
        assert!(RoleTable::with_overrides(&o("janitor", &[])).is_err());
        assert!(RoleTable::with_overrides(&o("operator", &["fly"])).is_err());
        assert!(RoleTable::with_overrides(&o("admin", &["own_session"])).is_err());
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
