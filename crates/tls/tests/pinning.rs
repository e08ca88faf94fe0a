//! The gateway side of "who may call": `server_name` pins the plugin server's identity (DNS name
//! or URI SAN) with and without `check_hostname`, and `ca_crl` refuses a revoked server
//! certificate. In-memory handshakes; the pin tests build both sides from in-memory material
//! (the settings only give the policies), the CRL test reads its CRL file (replacing it is the
//! point).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::policy::{env, leaf, plain_server, refusal, world, write_crl, World};
use common::{handshake, mem_client, Pki, SERVER_AUTH};
use plugwire_tls::rustls::{self, CertificateError};
use plugwire_tls::{
    build_client_config, explain_client_handshake_error, resolve_client_tls, vars, CertRefusal,
    ClientTlsLayer, ClientTlsSettings,
};

fn pinned(w: &World, pin: &str, check_hostname: bool) -> ClientTlsSettings {
    let layer = ClientTlsLayer {
        ca_bundle: Some(w.pki.ca_crt.clone()),
        server_name: Some(pin.into()),
        check_hostname: Some(check_hostname),
        ..Default::default()
    };
    resolve_client_tls(Some(&layer), &env(&[]))
        .unwrap()
        .unwrap()
}

#[test]
fn pinned_server_name_is_checked_with_and_without_check_hostname() {
    let w = world();
    let plugin = leaf(
        &w,
        "plugin",
        &["plugin.internal"],
        &["spiffe://cluster.local/ns/plugins/sa/pii"],
        false,
        11,
    );
    let server = plain_server(&plugin);
    // The URL says 127.0.0.1, which the certificate does not carry: the pin replaces it.
    for check_hostname in [true, false] {
        for pin in [
            "plugin.internal",
            "spiffe://cluster.local/ns/plugins/sa/pii",
        ] {
            let client = mem_client(&pinned(&w, pin, check_hostname), Some(w.pki.trust()), None);
            let out = handshake(server.clone(), client, "127.0.0.1");
            assert!(
                out.client.is_ok(),
                "{pin} check_hostname={check_hostname}: {:?}",
                out.client
            );
        }
        for pin in [
            "other.internal",
            "spiffe://cluster.local/ns/plugins/sa/other",
        ] {
            let settings = pinned(&w, pin, check_hostname);
            let client = mem_client(&settings, Some(w.pki.trust()), None);
            // Even the URL host the certificate does carry does not help: the pin wins.
            let out = handshake(server.clone(), client, "plugin.internal");
            let err = out.client.expect_err("pin mismatch refused");
            assert!(
                matches!(
                    refusal(&err),
                    Some(CertRefusal::ServerIdentityMismatch { .. })
                ),
                "{err:?}"
            );
            let msg = explain_client_handshake_error(&err, "plugin.internal", &settings);
            for needle in [pin, "DNS:plugin.internal", "mcp.tls.server_name"] {
                assert!(msg.contains(needle), "{needle} missing: {msg}");
            }
        }
    }
    // A pinned name does not loosen the chain check: another CA's certificate is refused.
    let other = Pki::new(&w.root, "other");
    let foreign = other.issue(
        "plugin",
        &["plugin.internal"],
        SERVER_AUTH,
        common::Validity::Now,
    );
    let client = mem_client(
        &pinned(&w, "plugin.internal", false),
        Some(w.pki.trust()),
        None,
    );
    let out = handshake(plain_server(&foreign), client, "127.0.0.1");
    assert!(
        matches!(
            out.client,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{:?}",
        out.client
    );
}

#[test]
fn bad_pins_and_pins_without_verification_are_refused_naming_the_setting() {
    let w = world();
    for bad in ["*.internal", "spiffe://", "spiffe://td/x/*", "not a name"] {
        let layer = ClientTlsLayer {
            ca_bundle: Some(w.pki.ca_crt.clone()),
            server_name: Some(bad.into()),
            ..Default::default()
        };
        let err = resolve_client_tls(Some(&layer), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mcp.tls.server_name"), "{bad}: {err}");
    }
    let err = resolve_client_tls(
        Some(&ClientTlsLayer {
            verify: Some(false),
            ..Default::default()
        }),
        &env(&[(vars::PLUGINS_CLIENT_MTLS_SERVER_NAME, "plugin.internal")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PLUGINS_CLIENT_MTLS_SERVER_NAME") && err.contains("verify"),
        "{err}"
    );
}

#[test]
fn client_refuses_a_revoked_server_certificate() {
    let w = world();
    let plugin = leaf(&w, "plugin", &["localhost"], &[], false, 0x77);
    let crl = w.root.join("client.crl");
    write_crl(&w.pki, &crl, &[0x78]);
    let layer = ClientTlsLayer {
        ca_bundle: Some(w.pki.ca_crt.clone()),
        ..Default::default()
    };
    let pairs = [(vars::PLUGINS_CLIENT_MTLS_CA_CRL, crl.to_str().unwrap())];
    let settings = resolve_client_tls(Some(&layer), &env(&pairs))
        .unwrap()
        .unwrap();
    let out = handshake(
        plain_server(&plugin),
        build_client_config(&settings).unwrap(),
        "localhost",
    );
    assert!(out.client.is_ok(), "{:?}", out.client);
    write_crl(&w.pki, &crl, &[0x78, 0x77]);
    let out = handshake(
        plain_server(&plugin),
        build_client_config(&settings).unwrap(),
        "localhost",
    );
    assert!(
        matches!(
            out.client,
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
        ),
        "{:?}",
        out.client
    );
    std::fs::write(&crl, "junk").unwrap();
    let err = build_client_config(&settings).unwrap_err().to_string();
    assert!(
        err.contains("PLUGINS_CLIENT_MTLS_CA_CRL") && err.contains("client.crl"),
        "{err}"
    );
}
