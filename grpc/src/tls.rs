//! TLS 1.3 only (rustls, ring), client certificates verified against the appliance CA, and the
//! accept loop that hands tonic connections carrying their [`ConnInfo`].
//!
//! The handshake is ours rather than tonic's `ServerTlsConfig` so that the protocol version can
//! be pinned to 1.3 and a connection without a client certificate still reaches the gate, which
//! refuses it with UNAUTHENTICATED *and an audit entry* instead of a silent handshake failure.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::GrpcError;
use crate::identity::{ConnInfo, PeerIdentity};

/// PEM files of the server identity and the CA that issues client certificates.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
}

/// A handshake slower than this is dropped (slowloris).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn pem_err(path: &Path) -> impl FnOnce(rustls_pki_types::pem::Error) -> GrpcError + '_ {
    move |e| GrpcError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, GrpcError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_err(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(path))?;
    if certs.is_empty() {
        return Err(GrpcError::Pem {
            path: path.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, GrpcError> {
    PrivateKeyDer::from_pem_file(path).map_err(pem_err(path))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's rustls config: TLS 1.3 only, h2, client certificates from `client_ca`
/// verified when presented (their absence is refused by the gate, audited).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, GrpcError> {
    let tls = |e: rustls::Error| GrpcError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for ca in load_certs(&files.client_ca)? {
        roots.add(ca).map_err(tls)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| GrpcError::Tls(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&files.cert)?, load_key(&files.key)?)
        .map_err(tls)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// A client's rustls config (benchmarks, tests, tools): TLS 1.3, trusting `ca`, presenting a
/// client certificate.
pub fn client_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ClientConfig>, GrpcError> {
    let tls = |e: rustls::Error| GrpcError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(ca)? {
        roots.add(c).map_err(tls)?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots)
        .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
        .map_err(tls)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// A connection's byte stream: TLS, or plaintext (`--insecure-dev`, or a plaintext HTTP/2
/// client on the TLS port, which is answered UNAUTHENTICATED by the gate).
pub enum Io {
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// A connection with the identity of its peer, as tonic wants it.
pub struct Conn {
    io: Io,
    info: ConnInfo,
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Tls(t) => {
                let $s = Pin::new(t.as_mut());
                $e
            }
            Io::Plain(t) => {
                let $s = Pin::new(t);
                $e
            }
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tls(t) => t.is_write_vectored(),
            Io::Plain(t) => t.is_write_vectored(),
        }
    }
}

/// The client preface every HTTP/2 connection starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a new connection starts with the plaintext HTTP/2 preface (rather than a TLS
/// ClientHello), without consuming it.
async fn is_plaintext_h2(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    for _ in 0..50 {
        match tcp.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) if buf[..n] != H2_PREFACE[..n] => return false,
            Ok(n) if n == H2_PREFACE.len() => return true,
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    false
}

/// Called with the peer address and the reason when a TLS handshake fails (plaintext to the
/// TLS port, an untrusted client certificate, a timeout): the server audits it.
pub type HandshakeFailed = Arc<dyn Fn(SocketAddr, String) + Send + Sync>;

/// Accepts TCP connections and completes TLS handshakes concurrently (one slow client does not
/// hold up the others); yields established connections.
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    on_failure: HandshakeFailed,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            if tx.is_closed() {
                return; // the server stopped
            }
            let (acceptor, tx, on_failure) = (acceptor.clone(), tx.clone(), on_failure.clone());
            tokio::spawn(async move {
                let handshake = async {
                    if is_plaintext_h2(&tcp).await {
                        // Answered (UNAUTHENTICATED, audited) by the gate rather than dropped,
                        // so the client learns why.
                        return Ok((Io::Plain(tcp), None));
                    }
                    let tls = acceptor.accept(tcp).await?;
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|der| PeerIdentity::from_der(der).ok());
                    Ok::<_, io::Error>((Io::Tls(Box::new(tls)), peer))
                };
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok((io, peer))) => {
                        let info = ConnInfo {
                            remote: Some(remote),
                            tls: matches!(io, Io::Tls(_)),
                            peer,
                        };
                        let _ = tx.send(Ok(Conn { io, info })).await;
                    }
                    Ok(Err(e)) => on_failure(remote, e.to_string()),
                    Err(_) => on_failure(remote, "handshake timed out".into()),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Plaintext connections (`--insecure-dev` on loopback only).
pub fn plain_incoming(listener: TcpListener) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let item = listener.accept().await.map(|(tcp, remote)| {
                let _ = tcp.set_nodelay(true);
                Conn {
                    io: Io::Plain(tcp),
                    info: ConnInfo {
                        remote: Some(remote),
                        tls: false,
                        peer: None,
                    },
                }
            });
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}
