//! The appliance's small PKI (`custos pki`): a CA, the server certificate, and client
//! certificates that name an agency (subject O) and a person or device (subject CN). Keys are
//! ECDSA P-256, written 0600; nothing is overwritten.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use time::{Duration, OffsetDateTime};

use crate::error::GrpcError;
use crate::identity::DEVICE_PREFIX;

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server.key";

fn pki_err(e: rcgen::Error) -> GrpcError {
    GrpcError::Pki(e.to_string())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GrpcError + '_ {
    move |source| GrpcError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a new file (never replaces one) with `mode`.
fn write_new(path: &Path, data: &str, mode: u32) -> Result<(), GrpcError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err(path))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    // A little slack for clients whose clock is behind.
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(days);
}

fn dn(pairs: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in pairs {
        dn.push(t.clone(), *v);
    }
    dn
}

/// Creates `dir/ca.pem` and `dir/ca.key` (10 years).
pub fn create_ca(dir: &Path, name: &str) -> Result<PathBuf, GrpcError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let key = KeyPair::generate().map_err(pki_err)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[(DnType::CommonName, name)]);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut p, 3650);
    let cert = p.self_signed(&key).map_err(pki_err)?;
    write_new(&dir.join(CA_KEY), &key.serialize_pem(), 0o600)?;
    let path = dir.join(CA_CERT);
    write_new(&path, &cert.pem(), 0o644)?;
    Ok(path)
}

fn load_issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, GrpcError> {
    let (cp, kp) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let cert = fs::read_to_string(&cp).map_err(io_err(&cp))?;
    let key = fs::read_to_string(&kp).map_err(io_err(&kp))?;
    let key = KeyPair::from_pem(&key).map_err(pki_err)?;
    Issuer::from_ca_cert_pem(&cert, key).map_err(pki_err)
}

fn issue(
    dir: &Path,
    mut p: CertificateParams,
    days: i64,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), GrpcError> {
    let issuer = load_issuer(dir)?;
    let key = KeyPair::generate().map_err(pki_err)?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut p, days);
    let cert = p.signed_by(&key, &issuer).map_err(pki_err)?;
    if let Some(parent) = cert_path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    write_new(key_path, &key.serialize_pem(), 0o600)?;
    write_new(cert_path, &cert.pem(), 0o644)
}

/// Issues `dir/server.pem` + `dir/server.key` for these DNS names or IP addresses (2 years).
pub fn issue_server(dir: &Path, names: &[String]) -> Result<PathBuf, GrpcError> {
    let mut p = CertificateParams::new(names.to_vec()).map_err(pki_err)?;
    p.distinguished_name = dn(&[(DnType::CommonName, "custos appliance")]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let path = dir.join(SERVER_CERT);
    issue(dir, p, 730, &path, &dir.join(SERVER_KEY))?;
    Ok(path)
}

/// Issues a client certificate for a person (`name` is the principal) or a device, of
/// `agency` (1 year). Files: `out/<agency>-<name>.pem` and `.key`.
pub fn issue_client(
    dir: &Path,
    out: &Path,
    agency: &str,
    name: &str,
    device: bool,
) -> Result<(PathBuf, PathBuf), GrpcError> {
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if !safe(agency) || !safe(name) {
        return Err(GrpcError::Pki(
            "agency and name must be 1-64 characters of A-Z a-z 0-9 - _ .".into(),
        ));
    }
    let cn = if device {
        format!("{DEVICE_PREFIX}{name}")
    } else {
        name.to_owned()
    };
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, agency),
        (DnType::CommonName, &cn),
    ]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = out.join(format!("{agency}-{name}.pem"));
    let key = out.join(format!("{agency}-{name}.key"));
    issue(dir, p, 365, &cert, &key)?;
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PeerIdentity;

    #[test]
    fn ca_server_and_client_chain_up() {
        let d = tempfile::tempdir().unwrap();
        create_ca(d.path(), "Test CA").unwrap();
        assert!(create_ca(d.path(), "again").is_err(), "must not overwrite");
        issue_server(d.path(), &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let (cert, key) = issue_client(d.path(), d.path(), "north", "jane", false).unwrap();
        let (dcert, _) = issue_client(d.path(), d.path(), "north", "gate-pc", true).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let der = crate::tls::load_certs(&cert).unwrap();
        let id = PeerIdentity::from_der(&der[0]).unwrap();
        assert_eq!(
            (id.agency.as_str(), id.name.as_str(), id.device),
            ("north", "jane", false)
        );
        let id = PeerIdentity::from_der(&crate::tls::load_certs(&dcert).unwrap()[0]).unwrap();
        assert_eq!((id.name.as_str(), id.device), ("gate-pc", true));
        // The server config loads with these files.
        crate::tls::server_config(&crate::tls::TlsFiles {
            cert: d.path().join(SERVER_CERT),
            key: d.path().join(SERVER_KEY),
            client_ca: d.path().join(CA_CERT),
        })
        .unwrap();
        assert!(issue_client(d.path(), d.path(), "north", "../x", false).is_err());
    }
}
