//! The gRPC API (`custos.v1`): services, authentication, the one authorisation and audit layer,
//! TLS 1.3.
//!
//! Every call passes [`gate`]: it identifies the client certificate, checks the session token,
//! checks the role's permission for the method (deny by default), checks the stated purpose and
//! any sharing grant, and writes the audit entry, allowed or denied. Handlers in `services`
//! never check roles. The store writer publishes reads and hotlist hits into the `custos-live` hub,
//! from which `Reads.StreamLive` and `Hotlists.StreamAlerts` serve.
//!
//! Owns: the `custos.v1` API, its authentication, authorisation, audit and TLS. May not touch:
//! the analysis or ingest; it reads and writes only through the store and subscribes to `custos-live`.

mod audit_writer;
pub mod audited;
pub mod auth;
mod convert;
pub mod error;
pub mod gate;
pub mod identity;
pub mod pki;
pub mod policy;
pub mod server;
mod services;
mod state;
pub mod tls;
pub mod totp;

/// Generated messages, servers and clients of package `custos.v1`.
#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("custos.v1");

    /// The encoded descriptors of `custos.v1`, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("custos_v1_descriptor");
}

pub use auth::AuthConfig;
pub use error::GrpcError;
pub use identity::{ConnInfo, PeerIdentity};
pub use server::{Server, ServerBuilder};
pub use tls::TlsFiles;
