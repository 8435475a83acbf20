//! The crate's error type (setting up and serving) and how store errors become gRPC statuses.

use std::net::SocketAddr;
use std::path::PathBuf;

use custos_store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("certificate: {0}")]
    Pki(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--insecure-dev serves plaintext only on a loopback address; {0} is not one (use TLS)")]
    NotLoopback(SocketAddr),
    #[error("neither TLS files nor --insecure-dev given: refusing to serve")]
    NoTransport,
    #[error("no agency to serve: create one with `custos agency create`")]
    NoAgencies,
    #[error("password hashing: {0}")]
    Password(String),
    #[error("serving gRPC: {0}")]
    Serve(String),
}

/// A store error as the client sees it: input problems are the client's to fix; everything
/// else is logged here and reported without details (they name files and keys).
pub fn store_status(e: &StoreError) -> Status {
    match e {
        StoreError::BadInput(m) | StoreError::BadPolicy(m) => Status::invalid_argument(m.clone()),
        StoreError::NoSuchRead { .. } | StoreError::NoSuchHold { .. } => {
            Status::not_found(e.to_string())
        }
        StoreError::Decommissioned(_)
        | StoreError::Wiped(_)
        | StoreError::UnderLegalHold { .. } => Status::failed_precondition(e.to_string()),
        _ => {
            tracing::error!(error = %e, "store error while serving a call");
            Status::internal("internal storage error (logged on the appliance)")
        }
    }
}
