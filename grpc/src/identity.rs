//! Who is on the other end of a connection: the client certificate's agency (subject O) and
//! person or device (subject CN; devices are `device:NAME`), fixed at the TLS handshake.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::GrpcError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub agency: String,
    /// The person's principal name, or the device name for device certificates.
    pub name: String,
    /// A device certificate: any principal of the agency may log in through it. A person's
    /// certificate admits only that person.
    pub device: bool,
    /// SHA-256 of the certificate: sessions are bound to it.
    pub fingerprint: [u8; 32],
}

pub const DEVICE_PREFIX: &str = "device:";

impl PeerIdentity {
    /// Reads the identity from a DER certificate that the TLS layer has already verified against
    /// the appliance CA.
    pub fn from_der(der: &[u8]) -> Result<Self, GrpcError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| GrpcError::Pki(format!("unparsable client certificate: {e}")))?;
        let subject = cert.subject();
        let attr = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
            it.next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        };
        let agency = attr(&mut subject.iter_organization())
            .ok_or_else(|| GrpcError::Pki("client certificate has no subject O (agency)".into()))?;
        let cn = attr(&mut subject.iter_common_name())
            .ok_or_else(|| GrpcError::Pki("client certificate has no subject CN".into()))?;
        let (name, device) = match cn.strip_prefix(DEVICE_PREFIX) {
            Some(d) => (d.to_owned(), true),
            None => (cn, false),
        };
        Ok(Self {
            agency,
            name,
            device,
            fingerprint: Sha256::digest(der).into(),
        })
    }
}

/// What tonic attaches to every request of a connection (see [`crate::tls`]).
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    pub tls: bool,
    /// None on a plaintext (`--insecure-dev`) connection or when no certificate was presented.
    pub peer: Option<PeerIdentity>,
}
