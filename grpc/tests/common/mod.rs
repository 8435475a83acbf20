//! A real server for the integration tests: two agencies in redb files under a temp dir, a PKI
//! made with `custos_grpc::pki`, TLS 1.3 with client certificates on a loopback port, and tonic
//! clients. The clock is a ManualClock set to now, so tests can expire sessions and step TOTP.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use custos_core::CameraId;
use custos_grpc::auth::provision_principal;
use custos_grpc::pb;
use custos_grpc::policy::Role;
use custos_grpc::{Server, TlsFiles, pki, totp};
use custos_live::Hub;
use custos_store::{
    Access, AgencyStore, Clock, HIT, Layout, ManualClock, NewRead, StoreOptions, SystemClock,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request, Status};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct User {
    pub agency: String,
    pub name: String,
    pub totp: Vec<u8>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
    pub clock: ManualClock,
    pub stores: Vec<Arc<AgencyStore>>,
    pub port: u16,
    pub hub: Hub,
    pub users: Vec<User>,
    pub read_ids: Vec<u64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), custos_grpc::GrpcError>>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn pki_dir(dir: &Path) -> PathBuf {
    dir.join("pki")
}

pub fn read(plate: &str, camera: &str, at_ms: u64, hit: bool) -> NewRead {
    NewRead {
        camera: CameraId::new(camera).unwrap(),
        captured_at_ms: at_ms,
        plate: plate.into(),
        confidence: 0.93,
        char_confidences: vec![0.9; plate.len()],
        candidates: vec![],
        plate_box: [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 1.0, 4.0],
        crop_jpeg: Some(format!("JPEG-{plate}").into_bytes()),
        context_jpeg: None,
        track_id: 1,
        hit_flags: if hit { HIT } else { 0 },
    }
}

impl Fixture {
    /// Agencies north and south; users (agency, name, role); reads in north.
    pub async fn start(users: &[(&str, &str, Role)]) -> Fixture {
        Self::start_with(users, false, &[]).await
    }

    /// `insecure`: plaintext on loopback (`--insecure-dev`) instead of TLS. `revoked`: users
    /// whose certificates are revoked before the server starts.
    pub async fn start_with(
        users: &[(&str, &str, Role)],
        insecure: bool,
        revoked: &[&str],
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("data"));
        let clock = ManualClock::new(SystemClock.now_ms());
        let opts = || StoreOptions {
            clock: Arc::new(clock.clone()),
            key_provider: None,
            cache_bytes: 8 << 20,
        };
        let pki = pki_dir(dir.path());
        pki::create_ca(&pki, "Custos test CA").unwrap();
        pki::issue_server(&pki, &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let mut stores = Vec::new();
        for a in ["north", "south"] {
            stores.push(Arc::new(AgencyStore::create(&layout, a, opts()).unwrap()));
        }
        let now = clock.now_ms();
        let read_ids: Vec<u64> = stores[0]
            .ingest(&[
                read("AB12CDE", "gate-1", now - 3_600_000, false),
                read("AB12CDF", "gate-2", now - 3_000_000, true),
                read("XY99ZZZ", "gate-1", now - 2_000_000, false),
                read("AB12CDE", "gate-2", now - 1_000_000, true),
            ])
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        let mut out = Vec::new();
        let who = Access::new("provisioning", "test setup");
        for (agency, name, role) in users {
            let store = stores.iter().find(|s| s.agency() == *agency).unwrap();
            let (_, secret) = provision_principal(store, &who, name, *role, PASSWORD).unwrap();
            let (cert, key) = pki::issue_client(&pki, &pki, agency, name, false).unwrap();
            if revoked.contains(name) {
                pki::revoke(&pki, &cert).unwrap();
            }
            out.push(User {
                agency: agency.to_string(),
                name: name.to_string(),
                totp: secret,
                cert,
                key,
            });
        }
        let hub = Hub::new(16);
        let mut builder = Server::builder(layout.clone())
            .clock(Arc::new(clock.clone()))
            .hub(hub.clone());
        builder = if insecure {
            builder.insecure_dev(true)
        } else {
            builder.tls(TlsFiles {
                cert: pki.join(pki::SERVER_CERT),
                key: pki.join(pki::SERVER_KEY),
                client_ca: pki.join(pki::CA_CERT),
                crl: Some(pki.join(pki::CRL)),
            })
        };
        for s in &stores {
            builder = builder.agency(s.clone());
        }
        let server = builder.build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Fixture {
            dir,
            layout,
            clock,
            stores,
            port,
            hub,
            users: out,
            read_ids,
            stop: Some(stop),
            server: Some(handle),
        }
    }

    pub fn user(&self, name: &str) -> &User {
        self.users.iter().find(|u| u.name == name).unwrap()
    }

    pub fn store(&self, agency: &str) -> &Arc<AgencyStore> {
        self.stores.iter().find(|s| s.agency() == agency).unwrap()
    }

    pub fn ca(&self) -> PathBuf {
        pki_dir(self.dir.path()).join(pki::CA_CERT)
    }

    /// A TLS channel presenting `user`'s certificate (None: no client certificate).
    pub async fn channel(&self, user: Option<&User>) -> Channel {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(self.ca()).unwrap()))
            .domain_name("localhost");
        if let Some(u) = user {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(&u.cert).unwrap(),
                std::fs::read(&u.key).unwrap(),
            ));
        }
        Channel::from_shared(format!("https://127.0.0.1:{}", self.port))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub fn code(&self, user: &str) -> String {
        totp::code_at(&self.user(user).totp, self.clock.now_ms())
    }

    pub async fn plaintext_channel(&self) -> Channel {
        Channel::from_shared(format!("http://127.0.0.1:{}", self.port))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Logs `user` in over `ch`; steps the clock past the TOTP step first so every login in a
    /// test uses a fresh code.
    pub async fn login(&self, ch: &Channel, user: &str) -> Result<String, Status> {
        self.clock.advance_ms(totp::STEP_MS);
        let u = self.user(user);
        let r = pb::auth_client::AuthClient::new(ch.clone())
            .login(pb::LoginRequest {
                username: u.name.clone(),
                password: PASSWORD.into(),
                totp_code: self.code(user),
                agency: String::new(),
            })
            .await?;
        Ok(r.into_inner().session_token)
    }

    /// Polls the log until `agency` has an entry for `method` whose outcome starts with
    /// `outcome` (a stream's closing entry is written as its body is dropped, just after the
    /// client sees the end).
    pub async fn wait_for_audit(
        &self,
        agency: &str,
        method: &str,
        outcome: &str,
    ) -> custos_store::audit::AuditBody {
        for _ in 0..100 {
            let found = self
                .store(agency)
                .audit_log()
                .unwrap()
                .records
                .into_iter()
                .rev()
                .find(|r| r.body.action == method && r.body.outcome.starts_with(outcome));
            if let Some(r) = found {
                return r.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {method} entry with outcome {outcome:?} in {agency}");
    }

    /// The newest audit entry of `agency` for `method`.
    pub fn last_audit(&self, agency: &str, method: &str) -> custos_store::audit::AuditBody {
        self.store(agency)
            .audit_log()
            .unwrap()
            .records
            .into_iter()
            .rev()
            .find(|r| r.body.action == method)
            .unwrap_or_else(|| panic!("no audit entry for {method} in {agency}"))
            .body
    }
}

pub fn authed<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

pub fn justified(reason: &str, case: &str) -> Option<pb::Justification> {
    Some(pb::Justification {
        reason: reason.into(),
        case_number: case.into(),
    })
}

pub fn exact(plate: &str) -> Option<pb::PlateQuery> {
    Some(pb::PlateQuery {
        kind: Some(pb::plate_query::Kind::Exact(plate.into())),
    })
}

pub fn search(query: Option<pb::PlateQuery>, reason: &str, case: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        query,
        justification: justified(reason, case),
        ..Default::default()
    }
}

pub fn reads(ch: &Channel) -> pb::reads_client::ReadsClient<Channel> {
    pb::reads_client::ReadsClient::new(ch.clone())
}

#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(r: Result<T, Status>, code: Code) -> Status {
    match r {
        Ok(v) => panic!("expected {code:?}, got OK {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "status: {s:?}");
            s
        }
    }
}

#[path = "../../../tests/common/python.rs"]
mod python;
#[allow(unused_imports)] // not every test binary runs Python
pub use python::python3;
