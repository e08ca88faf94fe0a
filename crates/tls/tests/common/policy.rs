//! Helpers of the allow-list, CRL and pinning tests: a PKI with leaves carrying DNS SANs, URI
//! SANs and chosen serials (in memory), CRLs signed by rcgen, and the settings around them. The
//! CA and the plugin server identity are also written to a tempdir, for the tests of settings
//! resolution and CRL reload, where the files are the point.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{mem_client, mem_server, Leaf, Pki, CLIENT_AUTH, SERVER_AUTH};
use plugwire_tls::rustls::{self, CertificateError, OtherError};
use plugwire_tls::{
    build_server_config, resolve_server_tls, AllowList, CertRefusal, ClientAuth, ClientTlsSettings,
    LoadedServerTls, Origin, ServerTlsLayer, ServerTlsSettings, MCP_SERVER_TLS,
};
use rcgen::{
    CertificateParams, CertificateRevocationListParams, DnType, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::PrivatePkcs8KeyDer;
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
    /// The plugin server identity in memory, and ...
    pub server_id: Leaf,
    /// ... as files, for settings that name them.
    pub server: (PathBuf, PathBuf),
}

pub fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let pki = Pki::new(&root, "main");
    let server_id = pki.mem_server();
    let server = (root.join("plugin.crt"), root.join("plugin.key"));
    std::fs::write(&server.0, &server_id.cert_pem).unwrap();
    std::fs::write(&server.1, &server_id.key_pem).unwrap();
    World {
        _dir: dir,
        root,
        pki,
        server_id,
        server,
    }
}

/// A leaf with DNS SANs, URI SANs, a CN, an EKU and a chosen serial, in memory.
pub fn leaf(w: &World, cn: &str, dns: &[&str], uris: &[&str], client: bool, serial: u64) -> Leaf {
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
    Leaf {
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
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

/// The plugin server requiring client certificates of the CA with these identities allowed,
/// from memory; the list's origin is the YAML key, as resolved from `server_layer`.
pub fn allow(w: &World, entries: &[&str]) -> Arc<rustls::ServerConfig> {
    let origin = Origin::Yaml("server_settings.tls.allowed_clients".into());
    let list = AllowList::parse(entries, &origin).unwrap();
    let loaded = LoadedServerTls::new(
        vec![w.server_id.cert.clone()],
        w.server_id.key_der(),
        w.pki.client_auth(plugwire_tls::ClientCertPolicy::Required),
    )
    .unwrap()
    .with_allowed_clients(Some(list));
    build_server_config(&loaded).unwrap()
}

/// A gateway client trusting the CA and presenting `identity`, from memory.
pub fn client_with(w: &World, identity: &Leaf) -> Arc<rustls::ClientConfig> {
    mem_client(
        &ClientTlsSettings::default(),
        Some(w.pki.trust()),
        Some(identity),
    )
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

/// A server with this identity and no client authentication, from memory.
pub fn plain_server(identity: &Leaf) -> Arc<rustls::ServerConfig> {
    mem_server(identity, ClientAuth::None)
}
