//! Building and running the server: agencies, TLS or (loopback-only) plaintext, the gate, the
//! custos.v1 services, health and reflection.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use custos_store::{AgencyStore, Clock, Layout, StoreOptions, SystemClock};
use tokio::net::TcpListener;

use crate::audit_writer::AuditWriter;
use crate::auth::{AuthConfig, Sessions};
use crate::error::GrpcError;
use crate::gate::GateLayer;
use crate::pb;
use crate::services::{AdminSvc, AuditSvc, AuthSvc, CamerasSvc, HotlistsSvc, ReadsSvc};
use crate::state::{Budget, Shared};
use crate::tls::{self, TlsFiles};
use custos_live::Hub;

/// Default request size limit: generous for a CSV import, far below memory trouble.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1 << 20;

pub struct ServerBuilder {
    layout: Layout,
    agencies: Vec<Arc<AgencyStore>>,
    clock: Arc<dyn Clock>,
    tls: Option<TlsFiles>,
    insecure_dev: bool,
    max_request_bytes: usize,
    auth: AuthConfig,
    hub: Hub,
}

impl ServerBuilder {
    /// Serves this agency (call once per agency).
    pub fn agency(mut self, store: Arc<AgencyStore>) -> Self {
        self.agencies.push(store);
        self
    }

    /// Opens every agency under the data directory.
    pub fn open_all(mut self, opts: impl Fn() -> StoreOptions) -> Result<Self, GrpcError> {
        let dir = self.layout.agencies_dir();
        let entries = std::fs::read_dir(&dir).map_err(|source| GrpcError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let store = AgencyStore::open(&self.layout, &name, opts())?;
            self.agencies.push(Arc::new(store));
        }
        Ok(self)
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// Plaintext, for development on loopback only ([`Server::serve`] refuses anything else).
    pub fn insecure_dev(mut self, on: bool) -> Self {
        self.insecure_dev = on;
        self
    }

    pub fn max_request_bytes(mut self, n: usize) -> Self {
        self.max_request_bytes = n;
        self
    }

    pub fn auth(mut self, cfg: AuthConfig) -> Self {
        self.auth = cfg;
        self
    }

    /// Use this hub (the pipeline's) instead of a new one.
    pub fn hub(mut self, hub: Hub) -> Self {
        self.hub = hub;
        self
    }

    /// The agency stores opened so far (for retention schedulers and the pipeline).
    pub fn stores(&self) -> Vec<Arc<AgencyStore>> {
        self.agencies.clone()
    }

    pub fn build(self) -> Result<Server, GrpcError> {
        if self.agencies.is_empty() {
            return Err(GrpcError::NoAgencies);
        }
        let tls = match (&self.tls, self.insecure_dev) {
            (Some(files), false) => Some(tls::server_config(files)?),
            (None, true) => None,
            (Some(_), true) | (None, false) => return Err(GrpcError::NoTransport),
        };
        let signer = custos_store::appliance::signing_key(&self.layout)?;
        let mut audit = HashMap::new();
        for s in &self.agencies {
            let w = AuditWriter::start(s.clone()).map_err(|source| GrpcError::Io {
                path: self.layout.agency_dir(s.agency()),
                source,
            })?;
            audit.insert(s.agency().to_owned(), w);
        }
        let shared = Shared {
            agencies: self
                .agencies
                .into_iter()
                .map(|s| (s.agency().to_owned(), s))
                .collect(),
            password_checks: Arc::new(tokio::sync::Semaphore::new(
                self.auth.max_password_checks.max(1),
            )),
            sessions: Sessions::new(self.clock.clone(), self.auth),
            hub: self.hub,
            insecure_dev: self.insecure_dev,
            max_request_bytes: self.max_request_bytes,
            layout: self.layout,
            clock: self.clock,
            signer,
            appliance_log: Mutex::new(Budget::default()),
            audit,
            roles: RwLock::default(),
        };
        Ok(Server {
            shared: Arc::new(shared),
            tls,
        })
    }
}

pub struct Server {
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    pub fn builder(layout: Layout) -> ServerBuilder {
        ServerBuilder {
            layout,
            agencies: Vec::new(),
            clock: Arc::new(SystemClock),
            tls: None,
            insecure_dev: false,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            auth: AuthConfig::default(),
            hub: Hub::default(),
        }
    }

    /// The hub the pipeline publishes reads, hits and camera status into.
    pub fn hub(&self) -> Hub {
        self.shared.hub.clone()
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), GrpcError> {
        let addr = listener
            .local_addr()
            .map_err(|e| GrpcError::Serve(e.to_string()))?;
        if self.tls.is_none() {
            check_loopback(addr)?;
        }
        let (health_reporter, health) = tonic_health::server::health_reporter();
        for name in [
            "custos.v1.Auth",
            "custos.v1.Reads",
            "custos.v1.Hotlists",
            "custos.v1.Cameras",
            "custos.v1.Audit",
            "custos.v1.Admin",
        ] {
            health_reporter
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        fn reflect() -> tonic_reflection::server::Builder<'static> {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        }
        let reflection_v1 = reflect()
            .build_v1()
            .map_err(|e| GrpcError::Serve(e.to_string()))?;
        let reflection_v1alpha = reflect()
            .build_v1alpha()
            .map_err(|e| GrpcError::Serve(e.to_string()))?;
        let s = &self.shared;
        let router = tonic::transport::Server::builder()
            .layer(GateLayer::new(s.clone()))
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(pb::auth_server::AuthServer::new(AuthSvc::new(s.clone())))
            .add_service(pb::reads_server::ReadsServer::new(ReadsSvc::new(s.clone())))
            .add_service(pb::hotlists_server::HotlistsServer::new(HotlistsSvc::new(
                s.clone(),
            )))
            .add_service(pb::cameras_server::CamerasServer::new(CamerasSvc::new(
                s.clone(),
            )))
            .add_service(pb::audit_server::AuditServer::new(AuditSvc))
            .add_service(pb::admin_server::AdminServer::new(AdminSvc::new(s.clone())));
        tracing::info!(%addr, tls = self.tls.is_some(), agencies = s.agencies.len(), "serving gRPC");
        let result = match self.tls {
            Some(cfg) => {
                let log = s.clone();
                let on_failure: tls::HandshakeFailed = Arc::new(move |remote, reason| {
                    let log = log.clone();
                    // File I/O off the accept loop.
                    tokio::task::spawn_blocking(move || {
                        let details =
                            serde_json::json!({ "remote": remote.to_string(), "reason": reason });
                        if let Err(e) =
                            log.appliance_audit("tls.handshake_failed", &details.to_string())
                        {
                            tracing::error!(error = %e, "cannot audit a failed TLS handshake");
                        }
                    });
                });
                router
                    .serve_with_incoming_shutdown(
                        tls::tls_incoming(listener, cfg, on_failure),
                        shutdown,
                    )
                    .await
            }
            None => {
                router
                    .serve_with_incoming_shutdown(tls::plain_incoming(listener), shutdown)
                    .await
            }
        };
        result.map_err(|e| GrpcError::Serve(e.to_string()))
    }
}

/// Plaintext is for development on this machine only.
pub fn check_loopback(addr: SocketAddr) -> Result<(), GrpcError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(GrpcError::NotLoopback(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_loopback() {
        assert!(check_loopback("127.0.0.1:50051".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:50051".parse().unwrap()).is_ok());
        assert!(matches!(
            check_loopback("0.0.0.0:50051".parse().unwrap()),
            Err(GrpcError::NotLoopback(_))
        ));
        assert!(check_loopback("192.168.1.4:50051".parse().unwrap()).is_err());
    }
}
