//! Helpers of the allow-list, CRL and pinning tests: a PKI in a tempdir with leaves carrying
//! DNS SANs, URI SANs and chosen serials, CRLs signed by rcgen, and the settings around them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Pki, CLIENT_AUTH, SERVER_AUTH};
use plugwire_tls::rustls::{self, CertificateError, OtherError};
use plugwire_tls::{
    build_client_config, load_server_config, resolve_server_tls, CertRefusal, ClientTlsSettings,
    ServerTlsLayer, ServerTlsSettings, MCP_SERVER_TLS,
};
use rcgen::{
    CertificateParams, CertificateRevocationListParams, DnType, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub struct World {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub pki: Pki,
    pub server: (PathBuf, PathBuf),
}

pub fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let pki = Pki::new(&root, "main");
    let server = pki.server("plugin");
    World {
        _dir: dir,
        root,
        pki,
        server,
    }
}

/// A leaf with DNS SANs, URI SANs, a CN, an EKU and a chosen serial.
pub fn leaf(
    w: &World,
    stem: &str,
    cn: &str,
    dns: &[&str],
    uris: &[&str],
    client: bool,
    serial: u64,
) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = dns
        .iter()
        .map(|d| SanType::DnsName((*d).try_into().unwrap()))
        .chain(uris.iter().map(|u| SanType::URI((*u).try_into().unwrap())))
        .collect();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = if client { CLIENT_AUTH } else { SERVER_AUTH }.to_vec();
    params.serial_number = Some(SerialNumber::from(serial));
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(30);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &w.pki.ca).unwrap();
    let (crt, keyp) = (
        w.root.join(format!("{stem}.crt")),
        w.root.join(format!("{stem}.key")),
    );
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&keyp, key.serialize_pem()).unwrap();
    (crt, keyp)
}

/// A CRL of `pki` revoking `serials`, written as PEM to `path`.
pub fn write_crl(pki: &Pki, path: &Path, serials: &[u64]) {
    let now = OffsetDateTime::now_utc();
    let crl = CertificateRevocationListParams {
        this_update: now - Duration::minutes(1),
        next_update: now + Duration::days(7),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: now - Duration::minutes(1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&pki.ca)
    .unwrap();
    std::fs::write(path, crl.pem().unwrap()).unwrap();
}

/// The MCP server's YAML `tls` block with mTLS required.
pub fn server_layer(w: &World) -> ServerTlsLayer {
    ServerTlsLayer {
        certfile: Some(w.server.0.clone()),
        keyfile: Some(w.server.1.clone()),
        ca_bundle: Some(w.pki.ca_crt.clone()),
        ..Default::default()
    }
}

pub fn resolve(layer: &ServerTlsLayer, pairs: &[(&str, &str)]) -> ServerTlsSettings {
    resolve_server_tls(Some(layer), &env(pairs), &MCP_SERVER_TLS)
        .unwrap()
        .unwrap()
}

pub fn allow(w: &World, entries: &[&str]) -> Arc<rustls::ServerConfig> {
    let layer = ServerTlsLayer {
        allowed_clients: Some(entries.iter().map(|e| e.to_string()).collect()),
        ..server_layer(w)
    };
    load_server_config(&resolve(&layer, &[])).unwrap()
}

pub fn client_with(w: &World, identity: &(PathBuf, PathBuf)) -> Arc<rustls::ClientConfig> {
    build_client_config(&ClientTlsSettings {
        certfile: Some(identity.0.clone()),
        keyfile: Some(identity.1.clone()),
        ca_bundle: Some(w.pki.ca_crt.clone()),
        ..Default::default()
    })
    .unwrap()
}

pub fn refusal(err: &rustls::Error) -> Option<&CertRefusal> {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => {
            e.downcast_ref::<CertRefusal>()
        }
        _ => None,
    }
}

pub const SPIFFE_GW: &str = "spiffe://cluster.local/ns/gw/sa/gateway";

/// A server with this identity and no client authentication.
pub fn plain_server(identity: &(PathBuf, PathBuf)) -> Arc<rustls::ServerConfig> {
    load_server_config(&ServerTlsSettings::new(
        &identity.0,
        Some(identity.1.clone()),
        None,
        plugwire_tls::ClientCertPolicy::None,
    ))
    .unwrap()
}
