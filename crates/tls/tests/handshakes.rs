//! The mTLS refusal matrix, server and client side, with in-memory handshakes (no sockets).
//! Each refusal's reason is asserted from the error and, server side, from the log line.
//!
//! Configs are built from in-memory rcgen material through the loaded types. Files are written
//! only where they are the point: a message or log line naming a file, a PEM bundle holding
//! both certificate and key, the openssl-made v1 certificate, and the hot-reload tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{
    capture_logs, handshake, mem_client, mem_server, Leaf, Pki, Validity, CLIENT_AUTH, NO_EKU,
    SERVER_AUTH,
};
use plugwire_tls::rustls::{self, CertificateError, ProtocolVersion};
use plugwire_tls::{
    build_client_config, describe_server_handshake_error, explain_client_handshake_error,
    load_server_config, CertInfo, ClientCertPolicy, ClientTlsSettings, ServerTlsSettings,
};

struct World {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    pki: Pki,
    server_id: Leaf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let pki = Pki::new(&root, "main");
    let server_id = pki.mem_server();
    World {
        _dir: dir,
        dir: root,
        pki,
        server_id,
    }
}

impl World {
    /// The plugin server, from memory.
    fn server(&self, policy: ClientCertPolicy) -> Arc<rustls::ServerConfig> {
        mem_server(&self.server_id, self.pki.client_auth(policy))
    }

    /// The plugin server loaded from files, for log lines that name the CA bundle file.
    fn server_from_files(&self, policy: ClientCertPolicy) -> Arc<rustls::ServerConfig> {
        let crt = self.dir.join("plugin.crt");
        let key = self.dir.join("plugin.key");
        std::fs::write(&crt, &self.server_id.cert_pem).unwrap();
        std::fs::write(&key, &self.server_id.key_pem).unwrap();
        load_server_config(&ServerTlsSettings::new(
            &crt,
            Some(key),
            Some(self.pki.ca_crt.clone()),
            policy,
        ))
        .unwrap()
    }

    /// A gateway client trusting the CA, from memory; `settings` give the policies.
    fn mem_client(
        &self,
        settings: &ClientTlsSettings,
        identity: Option<&Leaf>,
    ) -> Arc<rustls::ClientConfig> {
        mem_client(settings, Some(self.pki.trust()), identity)
    }

    fn client(&self, identity: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
        self.mem_client(&ClientTlsSettings::default(), identity)
    }

    /// A gateway client loaded from files (an identity file is the point of the test).
    fn client_from_files(&self, identity: &(PathBuf, PathBuf)) -> Arc<rustls::ClientConfig> {
        build_client_config(&client_settings(&self.pki.ca_crt, Some(identity))).unwrap()
    }
}

fn client_settings(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> ClientTlsSettings {
    ClientTlsSettings {
        certfile: identity.map(|(c, _)| c.clone()),
        keyfile: identity.map(|(_, k)| k.clone()),
        ca_bundle: Some(ca.to_path_buf()),
        ..Default::default()
    }
}

/// Runs a handshake against a server with `policy`, capturing the server's logs.
fn mtls(w: &World, policy: ClientCertPolicy, identity: Option<&Leaf>) -> (common::Outcome, String) {
    let server = w.server(policy);
    let client = w.client(identity);
    capture_logs(|| handshake(server, client, "localhost"))
}

/// The CA's roots for a plain rustls client.
fn roots(w: &World) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(w.pki.ca_der()).unwrap();
    roots
}

fn refused_with(out: &common::Outcome) -> String {
    match &out.server {
        Ok(()) => panic!(
            "server accepted the handshake; client side: {:?}",
            out.client
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn gateway_cert_accepted_with_required_and_optional() {
    let w = world();
    let gw = w.pki.mem_gateway();
    for policy in [ClientCertPolicy::Required, ClientCertPolicy::Optional] {
        let (out, logs) = mtls(&w, policy, Some(&gw));
        assert!(
            out.server.is_ok() && out.client.is_ok(),
            "{policy:?}: {:?} {:?}",
            out.server,
            out.client
        );
        let peer = out
            .server_conn
            .peer_certificates()
            .expect("client cert received");
        assert_eq!(CertInfo::parse(&peer[0]).unwrap().subject, "CN=mcp-gateway");
        assert_eq!(out.server_conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert!(
            logs.contains("client certificate accepted") && logs.contains("CN=mcp-gateway"),
            "{logs}"
        );
    }
}

#[test]
fn mtls_over_tls12_too() {
    let w = world();
    let gw = w.pki.mem_gateway();
    let server = w.server(ClientCertPolicy::Required);
    // Same identity and trust as the gateway client, restricted to TLS 1.2.
    let client = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
        .with_root_certificates(roots(&w))
        .with_client_auth_cert(vec![gw.cert.clone()], gw.key_der())
        .unwrap();
    let out = handshake(server, Arc::new(client), "localhost");
    assert!(
        out.server.is_ok() && out.client.is_ok(),
        "{:?} {:?}",
        out.server,
        out.client
    );
    assert_eq!(
        out.server_conn.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert!(out.server_conn.peer_certificates().is_some());
}

#[test]
fn client_pem_bundle_is_sent_as_client_certificate() {
    let w = world();
    let (cert, key) = w.pki.gateway("gw");
    let bundle = w.dir.join("client.pem");
    let text = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&key).unwrap();
    std::fs::write(&bundle, text).unwrap();
    let settings = ClientTlsSettings {
        certfile: Some(bundle),
        ca_bundle: Some(w.pki.ca_crt.clone()),
        ..Default::default()
    };
    let out = handshake(
        w.server(ClientCertPolicy::Required),
        build_client_config(&settings).unwrap(),
        "localhost",
    );
    assert!(
        out.server.is_ok() && out.client.is_ok(),
        "{:?} {:?}",
        out.server,
        out.client
    );
    let peer = out.server_conn.peer_certificates().unwrap();
    assert_eq!(CertInfo::parse(&peer[0]).unwrap().subject, "CN=mcp-gateway");
}

#[test]
fn eku_less_v3_cert_accepted() {
    let w = world();
    let id = w.pki.issue("legacy-gateway", &[], NO_EKU, Validity::Now);
    let (out, _) = mtls(&w, ClientCertPolicy::Required, Some(&id));
    assert!(
        out.server.is_ok() && out.client.is_ok(),
        "{:?} {:?}",
        out.server,
        out.client
    );
}

#[test]
fn no_client_cert_required_vs_optional_vs_none() {
    let w = world();
    let (out, _) = mtls(&w, ClientCertPolicy::Required, None);
    let err = out.server.as_ref().unwrap_err();
    assert!(
        matches!(err, rustls::Error::NoCertificatesPresented),
        "{err:?}"
    );
    assert!(describe_server_handshake_error(err).contains("ssl_cert_reqs=2"));
    // The client learns it too, and the explanation tells it to configure a certificate.
    let cerr = out.client.as_ref().unwrap_err();
    let msg =
        explain_client_handshake_error(cerr, "localhost", &client_settings(&w.pki.ca_crt, None));
    assert!(
        msg.contains("requires a client certificate") && msg.contains("mcp.tls.certfile"),
        "{msg}"
    );

    let (out, _) = mtls(&w, ClientCertPolicy::Optional, None);
    assert!(out.server.is_ok() && out.client.is_ok());
    assert!(out.server_conn.peer_certificates().is_none());

    // Policy 0 does not even ask; a client that has a cert does not send it.
    let gw = w.pki.mem_gateway();
    let (out, _) = mtls(&w, ClientCertPolicy::None, Some(&gw));
    assert!(out.server.is_ok() && out.client.is_ok());
    assert!(out.server_conn.peer_certificates().is_none());
}

#[test]
fn client_cert_from_other_ca_refused() {
    let w = world();
    let other = Pki::new(&w.dir, "other");
    let id = other.mem_gateway();
    for policy in [ClientCertPolicy::Required, ClientCertPolicy::Optional] {
        // The server from files: its log line names the CA bundle file.
        let server = w.server_from_files(policy);
        let client = w.client(Some(&id));
        let (out, logs) = capture_logs(|| handshake(server, client, "localhost"));
        assert!(
            matches!(
                out.server,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{:?}",
            out.server
        );
        assert!(
            logs.contains("unknown issuer")
                && logs.contains("CN=other")
                && logs.contains("main-ca.crt"),
            "{logs}"
        );
        assert!(out.client.is_err(), "client must see the refusal");
    }
}

#[test]
fn expired_and_not_yet_valid_client_certs_refused() {
    let w = world();
    let expired = w
        .pki
        .issue("mcp-gateway", &[], CLIENT_AUTH, Validity::Expired);
    let (out, logs) = mtls(&w, ClientCertPolicy::Required, Some(&expired));
    assert!(
        matches!(
            out.server,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            ))
        ),
        "{:?}",
        out.server
    );
    assert!(
        logs.contains("expired: it was valid until") && logs.contains("CN=mcp-gateway"),
        "{logs}"
    );

    let future = w
        .pki
        .issue("mcp-gateway", &[], CLIENT_AUTH, Validity::NotYetValid);
    let (out, logs) = mtls(&w, ClientCertPolicy::Required, Some(&future));
    assert!(
        matches!(
            out.server,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
            ))
        ),
        "{:?}",
        out.server
    );
    assert!(logs.contains("not yet valid"), "{logs}");
}

#[test]
fn server_auth_only_cert_refused_as_client_cert() {
    // A plugin's server certificate used to pose as the gateway (docs/decisions.md #2).
    let w = world();
    let plugin = w
        .pki
        .issue("other-plugin", &["localhost"], SERVER_AUTH, Validity::Now);
    let (out, logs) = mtls(&w, ClientCertPolicy::Required, Some(&plugin));
    let msg = refused_with(&out);
    assert!(
        msg.contains("serverAuth") && msg.contains("not clientAuth"),
        "{msg}"
    );
    assert!(
        logs.contains("wrong EKU") && logs.contains("CN=other-plugin"),
        "{logs}"
    );
}

#[test]
fn v1_client_cert_refused_with_regeneration_advice() {
    let w = world();
    let v1 = w.pki.v1_client("v1");
    let der =
        plugwire_tls::pem::load_certificates("t", &v1.0, &plugwire_tls::Origin::Default).unwrap();
    assert_eq!(
        CertInfo::parse(&der[0]).unwrap().version,
        1,
        "openssl x509 -req made a v1 cert"
    );
    // The certificate comes from openssl, so the client loads it from its files.
    let server = w.server(ClientCertPolicy::Required);
    let client = w.client_from_files(&v1);
    let (out, logs) = capture_logs(|| handshake(server, client, "localhost"));
    let msg = refused_with(&out);
    assert!(
        msg.contains("X.509 v1") && msg.contains("plugwire certs gateway --force"),
        "{msg}"
    );
    assert!(
        logs.contains("X.509 v1") && logs.contains("CN=mcp-gateway"),
        "{logs}"
    );
}

#[test]
fn only_tls12_and_tls13_are_served() {
    let w = world();
    let server = w.server(ClientCertPolicy::None);
    for (version, want) in [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ] {
        let client = rustls::ClientConfig::builder_with_protocol_versions(&[version])
            .with_root_certificates(roots(&w))
            .with_no_client_auth();
        let out = handshake(server.clone(), Arc::new(client), "localhost");
        assert!(out.server.is_ok(), "{:?}", out.server);
        assert_eq!(out.server_conn.protocol_version(), Some(want));
    }

    // rustls cannot speak TLS 1.1, so send raw TLS 1.1 ClientHellos (no supported_versions),
    // without and with a signature_algorithms extension.
    for with_sigalgs in [false, true] {
        let mut conn = rustls::ServerConnection::new(server.clone()).unwrap();
        let err = common::feed_server(&mut conn, &tls11_client_hello(with_sigalgs))
            .expect("TLS 1.1 refused");
        assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
        assert!(
            describe_server_handshake_error(&err).contains("only TLS 1.2 and 1.3"),
            "{err:?}"
        );
    }

    // Plain HTTP to the TLS port.
    let mut conn = rustls::ServerConnection::new(server).unwrap();
    let err = common::feed_server(
        &mut conn,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .expect("plaintext refused");
    assert!(
        describe_server_handshake_error(&err).contains("plain HTTP"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- client side

/// The client side of a handshake with a server presenting `server_id` (from memory).
fn client_result(
    server_id: &Leaf,
    client: Arc<rustls::ClientConfig>,
    host: &str,
) -> Result<(), rustls::Error> {
    let server = mem_server(server_id, plugwire_tls::ClientAuth::None);
    handshake(server, client, host).client
}

#[test]
fn client_refuses_server_from_other_ca() {
    let w = world();
    let other = Pki::new(&w.dir, "other");
    let id = other.mem_server();
    // The client from files: the explanation names the CA bundle file.
    let settings = client_settings(&w.pki.ca_crt, None);
    let err = client_result(&id, build_client_config(&settings).unwrap(), "localhost").unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
    let msg = explain_client_handshake_error(&err, "localhost", &settings);
    assert!(
        msg.contains("main-ca.crt") && msg.contains("mcp.tls.ca_bundle"),
        "{msg}"
    );

    // check_hostname=false does not switch off chain verification.
    let lax = ClientTlsSettings {
        check_hostname: false,
        ..settings.clone()
    };
    assert!(client_result(&id, build_client_config(&lax).unwrap(), "localhost").is_err());
    // verify=false accepts it (with a loud warning).
    let off = ClientTlsSettings {
        verify: false,
        ..settings
    };
    let (res, logs) =
        capture_logs(|| client_result(&id, build_client_config(&off).unwrap(), "localhost"));
    res.unwrap();
    assert!(
        logs.contains("TLS VERIFICATION IS OFF") && logs.contains("WARN"),
        "{logs}"
    );
}

#[test]
fn client_name_mismatch_lists_the_three_fixes() {
    let w = world();
    let settings = client_settings(&w.pki.ca_crt, None);
    let client = w.mem_client(&settings, None);
    let err = client_result(&w.server_id, client.clone(), "127.0.0.1").unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );
    let msg = explain_client_handshake_error(&err, "127.0.0.1", &settings);
    for needle in [
        "`127.0.0.1`",
        "localhost",
        "mcp.tls.check_hostname",
        "PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME",
        "plugwire certs plugin NAME --san IP:127.0.0.1 --force",
    ] {
        assert!(msg.contains(needle), "{needle} missing: {msg}");
    }
    // Fix 1: a DNS SAN in the URL.
    client_result(&w.server_id, client.clone(), "localhost").unwrap();
    // Fix 2: check_hostname false.
    let lax = ClientTlsSettings {
        check_hostname: false,
        ..settings.clone()
    };
    client_result(&w.server_id, w.mem_client(&lax, None), "127.0.0.1").unwrap();
    // Fix 3: an IP SAN; IP-literal server names work (docs/decisions.md #13), v4 and v6.
    let ip = w.pki.issue(
        "example-plugin",
        &["localhost", "127.0.0.1", "::1"],
        SERVER_AUTH,
        Validity::Now,
    );
    client_result(&ip, client.clone(), "127.0.0.1").unwrap();
    client_result(&ip, client.clone(), "[::1]").unwrap();
    assert!(client_result(&ip, client, "127.0.0.2").is_err());
}

#[test]
fn client_refuses_expired_server_cert() {
    let w = world();
    let id = w.pki.issue(
        "example-plugin",
        &["localhost"],
        SERVER_AUTH,
        Validity::Expired,
    );
    let settings = client_settings(&w.pki.ca_crt, None);
    let err = client_result(&id, w.mem_client(&settings, None), "localhost").unwrap_err();
    let msg = explain_client_handshake_error(&err, "localhost", &settings);
    assert!(msg.contains("expired"), "{msg}");
    // Even with check_hostname off.
    let lax = ClientTlsSettings {
        check_hostname: false,
        ..settings
    };
    assert!(client_result(&id, w.mem_client(&lax, None), "localhost").is_err());
}

#[test]
fn client_refuses_client_auth_only_server_cert() {
    let w = world();
    let gw = w.pki.mem_gateway();
    let settings = ClientTlsSettings {
        check_hostname: false,
        ..client_settings(&w.pki.ca_crt, None)
    };
    let err = client_result(&gw, w.mem_client(&settings, None), "localhost").unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[test]
fn server_refusal_is_explained_on_the_client() {
    let w = world();
    let other = Pki::new(&w.dir, "other");
    // The client from files: the explanation names the certificate file.
    let id = other.gateway("other-gw");
    let settings = client_settings(&w.pki.ca_crt, Some(&id));
    let out = handshake(
        w.server(ClientCertPolicy::Required),
        build_client_config(&settings).unwrap(),
        "localhost",
    );
    let err = out.client.unwrap_err();
    let msg = explain_client_handshake_error(&err, "localhost", &settings);
    assert!(
        msg.contains("refused our client certificate") && msg.contains("other-gw.crt"),
        "{msg}"
    );
}

fn tls11_client_hello(with_sigalgs: bool) -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend_from_slice(&[7u8; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // AES128-SHA, AES256-SHA
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    if with_sigalgs {
        // extensions: signature_algorithms = ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256
        hello.extend_from_slice(&[
            0x00, 0x0a, 0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04,
        ]);
    }
    let mut hs = vec![0x01, 0x00, 0x00, hello.len() as u8];
    hs.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, hs.len() as u8];
    record.extend_from_slice(&hs);
    record
}

// ---------------------------------------------------------------- hot reload

fn served_subject(config: Arc<rustls::ServerConfig>, w: &World) -> String {
    let out = handshake(config, w.client(None), "localhost");
    out.client.unwrap();
    let certs = out.client_conn.peer_certificates().unwrap();
    CertInfo::parse(&certs[0]).unwrap().subject
}

#[test]
fn reload_swaps_certificate_and_keeps_old_on_broken_rotation() {
    let w = world();
    let (cert, key) = w
        .pki
        .leaf("rot", "first", &["localhost"], SERVER_AUTH, Validity::Now);
    let settings = ServerTlsSettings::new(&cert, Some(key.clone()), None, ClientCertPolicy::None);
    let reloadable = plugwire_tls::ReloadableServerConfig::new(settings).unwrap();
    assert_eq!(served_subject(reloadable.current(), &w), "CN=first");
    assert!(
        !reloadable.reload_if_changed().unwrap(),
        "nothing changed yet"
    );

    // Half-rotated: new certificate, old key. Refused, old config kept.
    let (cert2, key2) = w
        .pki
        .leaf("rot2", "second", &["localhost"], SERVER_AUTH, Validity::Now);
    std::fs::copy(&cert2, &cert).unwrap();
    let err = reloadable.reload_if_changed().unwrap_err();
    assert!(
        matches!(err, plugwire_tls::TlsError::KeyMismatch { .. }),
        "{err:?}"
    );
    assert!(
        !reloadable.reload_if_changed().unwrap(),
        "same broken files: no retry storm"
    );
    assert_eq!(served_subject(reloadable.current(), &w), "CN=first");

    // Key arrives: the new certificate is served.
    std::fs::copy(&key2, &key).unwrap();
    assert!(reloadable.reload_if_changed().unwrap());
    assert_eq!(served_subject(reloadable.current(), &w), "CN=second");
}

#[tokio::test]
async fn watch_picks_up_rotation_and_stops_on_shutdown() {
    let w = world();
    let (cert, key) = w
        .pki
        .leaf("wat", "first", &["localhost"], SERVER_AUTH, Validity::Now);
    let settings = ServerTlsSettings::new(&cert, Some(key.clone()), None, ClientCertPolicy::None);
    let reloadable = Arc::new(plugwire_tls::ReloadableServerConfig::new(settings).unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reloadable.clone().watch(
        std::time::Duration::from_millis(20),
        async {
            let _ = stop_rx.await;
        },
    ));
    let (cert2, key2) = w
        .pki
        .leaf("wat2", "second", &["localhost"], SERVER_AUTH, Validity::Now);
    std::fs::copy(&key2, &key).unwrap();
    std::fs::copy(&cert2, &cert).unwrap();
    let mut subject = String::new();
    for _ in 0..500 {
        subject = served_subject(reloadable.current(), &w);
        if subject == "CN=second" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(subject, "CN=second");
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}
