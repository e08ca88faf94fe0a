//! ECDSA P-256 test material in the `plugwire certs all` layout, for the smoke test and as a
//! fallback when `plugwire certs` is unavailable. The benchmark proper uses `plugwire certs`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::{BenchError, Result};
use crate::tlsfiles::Identity;

/// Paths of a certificate directory laid out as `plugwire certs all` writes it.
#[derive(Debug, Clone)]
pub struct CertDir {
    pub root: PathBuf,
    pub plugin: String,
}

impl CertDir {
    /// The gateway (client) identity.
    pub fn gateway(&self) -> Identity {
        Identity {
            ca: self.root.join("ca/ca.crt"),
            cert: self.root.join("gateway/client.crt"),
            key: self.root.join("gateway/client.key"),
        }
    }
    /// The plugin server identity.
    pub fn plugin(&self) -> Identity {
        let dir = self.root.join("plugins").join(&self.plugin);
        Identity {
            ca: self.root.join("ca/ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| BenchError::Write {
            path: dir.into(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| BenchError::Write {
        path: path.into(),
        source,
    })
}

/// Writes a CA, a gateway client identity and one plugin server identity (SANs localhost,
/// 127.0.0.1) under `root`.
pub fn generate(root: &Path, plugin: &str) -> Result<CertDir> {
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let ca_key = KeyPair::generate_for(alg)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "plugwire-bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    write(&root.join("ca/ca.crt"), &ca_cert.pem())?;
    write(&root.join("ca/ca.key"), &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let gw_key = KeyPair::generate_for(alg)?;
    let mut gw = CertificateParams::new(Vec::<String>::new())?;
    gw.distinguished_name
        .push(DnType::CommonName, "mcp-gateway");
    gw.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    gw.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let gw_cert = gw.signed_by(&gw_key, &issuer)?;
    write(&root.join("gateway/client.crt"), &gw_cert.pem())?;
    write(&root.join("gateway/client.key"), &gw_key.serialize_pem())?;
    write(&root.join("gateway/ca.crt"), &ca_cert.pem())?;

    let srv_key = KeyPair::generate_for(alg)?;
    let mut srv = CertificateParams::new(vec![plugin.to_string(), "localhost".to_string()])?;
    srv.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    srv.distinguished_name.push(DnType::CommonName, plugin);
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    srv.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let srv_cert = srv.signed_by(&srv_key, &issuer)?;
    let dir = root.join("plugins").join(plugin);
    write(&dir.join("server.crt"), &srv_cert.pem())?;
    write(&dir.join("server.key"), &srv_key.serialize_pem())?;
    write(&dir.join("ca.crt"), &ca_cert.pem())?;
    Ok(CertDir {
        root: root.into(),
        plugin: plugin.into(),
    })
}
