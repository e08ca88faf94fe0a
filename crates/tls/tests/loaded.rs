//! The load and build steps of server TLS apart: configs built from in-memory rcgen material
//! (no files), and the load step's own checks on files (where the files are the point).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{files, handshake, CLIENT_AUTH, SERVER_AUTH};
use plugwire_tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use plugwire_tls::rustls::{self, ClientConfig, RootCertStore};
use plugwire_tls::{
    build_server_config, AllowList, ClientAuth, ClientCertPolicy, ClientRoots, LoadedServerTls,
    Origin, ReloadableServerConfig, ServerTlsSettings, TlsError,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA and leaves, in memory only.
struct MemPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf: its DER and PKCS#8 key.
type Leaf = (CertificateDer<'static>, PrivateKeyDer<'static>);

impl MemPki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "mem-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        MemPki { ca }
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    fn leaf(&self, cn: &str, sans: &[&str], ekus: &[ExtendedKeyUsagePurpose]) -> Leaf {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = ekus.to_vec();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    /// A rustls client trusting this CA, presenting `identity` when given.
    fn client(&self, identity: Option<Leaf>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).unwrap();
        let provider = plugwire_tls::provider();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match identity {
            Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    fn required(&self) -> ClientAuth {
        ClientAuth::Required(Arc::new(ClientRoots::new(vec![self.ca_der()]).unwrap()))
    }
}

#[test]
fn mtls_config_is_built_from_memory_without_files() {
    let pki = MemPki::new();
    let (cert, key) = pki.leaf("plugin", &["localhost"], SERVER_AUTH);
    let loaded = LoadedServerTls::new(vec![cert], key, pki.required()).unwrap();
    assert!(loaded.certificate().valid);
    assert_eq!(loaded.client_auth.policy(), ClientCertPolicy::Required);
    let server = build_server_config(&loaded).unwrap();

    let gateway = pki.leaf("gateway", &["gateway"], CLIENT_AUTH);
    let ok = handshake(Arc::clone(&server), pki.client(Some(gateway)), "localhost");
    assert!(ok.server.is_ok() && ok.client.is_ok(), "{ok:?}");

    let none = handshake(server, pki.client(None), "localhost");
    assert!(
        matches!(none.server, Err(rustls::Error::NoCertificatesPresented)),
        "{:?}",
        none.server
    );
}

#[test]
fn optional_and_none_policies_from_memory() {
    let pki = MemPki::new();
    let (cert, key) = pki.leaf("plugin", &["localhost"], SERVER_AUTH);
    let roots = Arc::new(ClientRoots::new(vec![pki.ca_der()]).unwrap());
    let optional = LoadedServerTls::new(
        vec![cert.clone()],
        key.clone_key(),
        ClientAuth::Optional(roots),
    )
    .unwrap();
    let out = handshake(
        build_server_config(&optional).unwrap(),
        pki.client(None),
        "localhost",
    );
    assert!(
        out.server.is_ok(),
        "optional: no certificate is accepted: {out:?}"
    );

    // A client certificate from another CA is still verified (and refused) when optional.
    let stranger = MemPki::new().leaf("stranger", &["stranger"], CLIENT_AUTH);
    let out = handshake(
        build_server_config(&optional).unwrap(),
        pki.client(Some(stranger)),
        "localhost",
    );
    assert!(out.server.is_err(), "{out:?}");

    let open = LoadedServerTls::new(vec![cert], key, ClientAuth::None).unwrap();
    let out = handshake(
        build_server_config(&open).unwrap(),
        pki.client(None),
        "localhost",
    );
    assert!(out.server.is_ok() && out.client.is_ok(), "{out:?}");
}

#[test]
fn allow_list_from_memory_refuses_an_unlisted_client() {
    let pki = MemPki::new();
    let (cert, key) = pki.leaf("plugin", &["localhost"], SERVER_AUTH);
    let list = AllowList::parse(&["alice.internal"], &Origin::Default).unwrap();
    let loaded = LoadedServerTls::new(vec![cert], key, pki.required())
        .unwrap()
        .with_allowed_clients(Some(list));
    let server = build_server_config(&loaded).unwrap();
    let alice = pki.leaf("alice", &["alice.internal"], CLIENT_AUTH);
    let bob = pki.leaf("bob", &["bob.internal"], CLIENT_AUTH);
    let out = handshake(Arc::clone(&server), pki.client(Some(alice)), "localhost");
    assert!(out.server.is_ok(), "{out:?}");
    let out = handshake(server, pki.client(Some(bob)), "localhost");
    let err = out.server.expect_err("bob is not listed").to_string();
    assert!(
        err.contains("bob.internal") && err.contains("allowed_clients"),
        "{err}"
    );
}

#[test]
fn a_key_of_another_certificate_is_refused_in_memory() {
    let pki = MemPki::new();
    let (cert, _) = pki.leaf("plugin", &["localhost"], SERVER_AUTH);
    let (_, other) = pki.leaf("other", &["localhost"], SERVER_AUTH);
    let err = LoadedServerTls::new(vec![cert], other, ClientAuth::None).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
}

#[test]
fn roots_without_a_usable_anchor_are_refused() {
    let err = ClientRoots::new(vec![CertificateDer::from(vec![0x30, 0x00])]).unwrap_err();
    assert!(err.to_string().contains("trust anchor"), "{err}");
}

// The load step's checks on files: here the files are the point.

#[test]
fn client_certificates_without_a_ca_bundle_are_refused_when_loaded() {
    let f = files();
    for policy in [ClientCertPolicy::Optional, ClientCertPolicy::Required] {
        let s = ServerTlsSettings::new(&f.cert, Some(f.key.clone()), None, policy);
        let err = LoadedServerTls::load(&s).unwrap_err();
        assert!(matches!(err, TlsError::MissingCaBundle { .. }), "{err}");
        assert!(
            err.to_string().contains("PLUGINS_SERVER_SSL_CA_CERTS"),
            "{err}"
        );
    }
    let s = ServerTlsSettings::new(&f.cert, Some(f.key.clone()), None, ClientCertPolicy::None);
    let loaded = LoadedServerTls::load(&s).unwrap();
    assert!(matches!(loaded.client_auth, ClientAuth::None));
}

#[test]
fn loaded_material_remembers_the_bytes_and_a_rewrite_with_the_same_bytes_is_no_change() {
    let f = files();
    let s = ServerTlsSettings::new(
        &f.cert,
        Some(f.key.clone()),
        Some(f.ca.clone()),
        ClientCertPolicy::Required,
    );
    let loaded = LoadedServerTls::load(&s).unwrap();
    let cert_bytes = std::fs::read(&f.cert).unwrap();
    assert_eq!(
        loaded.fingerprint()[0].as_deref(),
        Some(cert_bytes.as_slice())
    );
    let r = ReloadableServerConfig::new(s).unwrap();
    let before = r.current();
    // Same bytes written again (a new inode, as a copy would make): nothing to reload.
    std::fs::remove_file(&f.cert).unwrap();
    std::fs::write(&f.cert, &cert_bytes).unwrap();
    assert!(!r.reload_if_changed().unwrap());
    assert!(Arc::ptr_eq(&before, &r.current()));
}
