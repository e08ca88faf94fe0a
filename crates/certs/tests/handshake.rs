//! The certificates work for what they are for: an in-memory rustls mTLS handshake (no
//! sockets) between a plugin server identity and the gateway identity succeeds, and fails as
//! soon as one side presents a certificate from another CA or the wrong identity.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use plugwire_certs::{issue_all, IdentityPaths, Layout, Options};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    store
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    Arc::new(store)
}

fn chain(paths: &IdentityPaths) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from_pem_file(&paths.cert).unwrap()],
        PrivateKeyDer::from_pem_file(&paths.key).unwrap(),
    )
}

/// A plugin server requiring client certificates from `client_ca`.
fn server(identity: &IdentityPaths, client_ca: &Path) -> Arc<ServerConfig> {
    let verifier = WebPkiClientVerifier::builder(roots(client_ca))
        .build()
        .unwrap();
    let (certs, key) = chain(identity);
    Arc::new(
        ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

/// A gateway client trusting `server_ca` and presenting `identity`.
fn client(identity: &IdentityPaths, server_ca: &Path) -> Arc<ClientConfig> {
    let (certs, key) = chain(identity);
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots(server_ca))
            .with_client_auth_cert(certs, key)
            .unwrap(),
    )
}

/// Runs the handshake to completion, then one application message from client to server.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<(), rustls::Error> {
    let mut c = ClientConnection::new(client, ServerName::try_from(name.to_string()).unwrap())?;
    let mut s = ServerConnection::new(server)?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut buf.as_slice()).unwrap();
            s.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            c.read_tls(&mut buf.as_slice()).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
    }
    assert!(
        !c.is_handshaking() && !s.is_handshaking(),
        "handshake did not finish"
    );
    // Application data proves the server accepted the client's certificate (TLS 1.3 finishes
    // the client side before the server has checked it).
    use std::io::{Read, Write};
    c.writer().write_all(b"ping").unwrap();
    let mut buf = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut buf).unwrap();
    }
    s.read_tls(&mut buf.as_slice()).unwrap();
    s.process_new_packets()?;
    let mut got = [0u8; 4];
    s.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    let peer = s.peer_certificates().expect("client certificate presented");
    assert_eq!(peer.len(), 1);
    Ok(())
}

/// Both CAs carry the same subject, so webpki finds "the" CA by name and the signature check
/// fails (BadSignature); with another subject it would be UnknownIssuer.
fn foreign_issuer(err: &rustls::Error) -> bool {
    use rustls::CertificateError::{BadSignature, UnknownIssuer};
    matches!(
        err,
        rustls::Error::InvalidCertificate(BadSignature | UnknownIssuer)
    )
}

#[test]
fn mtls_with_our_certificates_succeeds_and_foreign_ones_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let options = Options::ecdsa().with_sans(&["IP:127.0.0.1"]);
    issue_all(&ours, &["alpha"], &options).unwrap();
    issue_all(&theirs, &["alpha"], &options).unwrap();
    let (ours, theirs) = (Layout::new(&ours), Layout::new(&theirs));
    let ca = ours.ca_cert();
    let (plugin, gateway) = (ours.plugin("alpha"), ours.gateway());

    // Every name in the plugin certificate works, including the extra IP SAN.
    for name in [
        "localhost",
        "alpha",
        "mcp-plugin-alpha",
        "ALPHA",
        "127.0.0.1",
    ] {
        handshake(client(&gateway, &ca), server(&plugin, &ca), name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // The copies beside each identity are usable trust anchors too.
    handshake(
        client(&gateway, gateway.ca_copy.as_ref().unwrap()),
        server(&plugin, plugin.ca_copy.as_ref().unwrap()),
        "localhost",
    )
    .unwrap();

    // A name not in the certificate.
    let err = handshake(client(&gateway, &ca), server(&plugin, &ca), "other").unwrap_err();
    assert!(format!("{err}").contains("not valid for name"), "{err}");

    // A gateway certificate from another CA is refused by our plugin server.
    let err = handshake(
        client(&theirs.gateway(), &ca),
        server(&plugin, &ca),
        "localhost",
    )
    .unwrap_err();
    assert!(foreign_issuer(&err), "{err:?}");

    // A plugin certificate from another CA is refused by our gateway.
    let err = handshake(
        client(&gateway, &ca),
        server(&theirs.plugin("alpha"), &ca),
        "localhost",
    )
    .unwrap_err();
    assert!(foreign_issuer(&err), "{err:?}");

    // EKUs: a plugin's server certificate cannot pose as the gateway, nor the gateway's
    // client certificate as a plugin server.
    let err = handshake(client(&plugin, &ca), server(&plugin, &ca), "localhost").unwrap_err();
    assert!(format!("{err:?}").contains("InvalidPurpose"), "{err:?}");
    let err = handshake(client(&gateway, &ca), server(&gateway, &ca), "localhost").unwrap_err();
    assert!(format!("{err:?}").contains("InvalidPurpose"), "{err:?}");
}

#[test]
fn client_pem_bundle_is_the_gateway_identity() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["p"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(tmp.path());
    let bundle = layout.gateway().bundle.unwrap();
    let certs: Vec<_> = CertificateDer::pem_file_iter(&bundle)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&bundle).unwrap();
    let config = Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots(&layout.ca_cert()))
            .with_client_auth_cert(certs, key)
            .unwrap(),
    );
    handshake(
        config,
        server(&layout.plugin("p"), &layout.ca_cert()),
        "localhost",
    )
    .unwrap();
}
