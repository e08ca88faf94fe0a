//! Who may call: the server's `allowed_clients` (DNS SAN, URI SAN, CN, wildcards), CRLs on both
//! sides (including a reload that picks up a new CRL), and the client's `server_name` pin, with
//! in-memory handshakes. The settings read files, so the PKI lives in a tempdir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{capture_logs, handshake, Pki, CLIENT_AUTH, SERVER_AUTH};
use plugwire_tls::rustls::{self, CertificateError, OtherError};
use plugwire_tls::{
    build_client_config, build_server_config, explain_client_handshake_error, resolve_client_tls,
    resolve_server_tls, vars, CertRefusal, ClientTlsLayer, ClientTlsSettings, Origin,
    ReloadableServerConfig, ServerTlsLayer, ServerTlsSettings, GRPC_SERVER_TLS, MCP_SERVER_TLS,
};
use rcgen::{
    CertificateParams, CertificateRevocationListParams, DnType, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    pki: Pki,
    server: (PathBuf, PathBuf),
}

fn world() -> World {
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
fn leaf(
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
fn write_crl(pki: &Pki, path: &Path, serials: &[u64]) {
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
fn server_layer(w: &World) -> ServerTlsLayer {
    ServerTlsLayer {
        certfile: Some(w.server.0.clone()),
        keyfile: Some(w.server.1.clone()),
        ca_bundle: Some(w.pki.ca_crt.clone()),
        ..Default::default()
    }
}

fn resolve(layer: &ServerTlsLayer, pairs: &[(&str, &str)]) -> ServerTlsSettings {
    resolve_server_tls(Some(layer), &env(pairs), &MCP_SERVER_TLS)
        .unwrap()
        .unwrap()
}

fn allow(w: &World, entries: &[&str]) -> Arc<rustls::ServerConfig> {
    let layer = ServerTlsLayer {
        allowed_clients: Some(entries.iter().map(|e| e.to_string()).collect()),
        ..server_layer(w)
    };
    build_server_config(&resolve(&layer, &[])).unwrap()
}

fn client_with(w: &World, identity: &(PathBuf, PathBuf)) -> Arc<rustls::ClientConfig> {
    build_client_config(&ClientTlsSettings {
        certfile: Some(identity.0.clone()),
        keyfile: Some(identity.1.clone()),
        ca_bundle: Some(w.pki.ca_crt.clone()),
        ..Default::default()
    })
    .unwrap()
}

fn refusal(err: &rustls::Error) -> Option<&CertRefusal> {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => {
            e.downcast_ref::<CertRefusal>()
        }
        _ => None,
    }
}

const SPIFFE_GW: &str = "spiffe://cluster.local/ns/gw/sa/gateway";

#[test]
fn allowed_dns_uri_and_cn_identities_are_accepted() {
    let w = world();
    let gw = leaf(
        &w,
        "gw",
        "mcp-gateway",
        &["gw.example.com"],
        &[SPIFFE_GW],
        true,
        7,
    );
    let client = client_with(&w, &gw);
    for entries in [
        &["gw.example.com"][..],
        &[SPIFFE_GW],
        &["mcp-gateway"],
        &["CN:MCP-Gateway"],
        &["*.example.com"],
        &["spiffe://cluster.local/ns/gw/sa/*"],
        &["someone-else", "DNS:gw.example.com"],
    ] {
        let out = handshake(allow(&w, entries), client.clone(), "localhost");
        assert!(
            out.server.is_ok() && out.client.is_ok(),
            "{entries:?}: {:?} {:?}",
            out.server,
            out.client
        );
    }
}

#[test]
fn a_certificate_from_the_ca_not_on_the_list_is_refused_in_the_handshake_and_logged() {
    let w = world();
    let other = leaf(
        &w,
        "other",
        "intruder",
        &["intruder.example.org"],
        &["spiffe://cluster.local/ns/other/sa/x"],
        true,
        8,
    );
    let client = client_with(&w, &other);
    for entries in [
        &["gw.example.com"][..],
        &[SPIFFE_GW],
        &["spiffe://cluster.local/ns/gw/sa/*"],
        &["*.example.com"],
        &["DNS:intruder"],
        &["CN:intruder.example.org"],
    ] {
        let server = allow(&w, entries);
        let (out, logs) = capture_logs(|| handshake(server, client.clone(), "localhost"));
        let err = out.server.expect_err("server must refuse");
        assert!(
            matches!(refusal(&err), Some(CertRefusal::NotAllowed { .. })),
            "{entries:?}: {err:?}"
        );
        assert!(
            out.client.is_err(),
            "{entries:?}: the client sees the refusal"
        );
        for needle in [
            "not on the allow-list",
            "DNS:intruder.example.org",
            "URI:spiffe://cluster.local/ns/other/sa/x",
            "CN=intruder",
            "server_settings.tls.allowed_clients",
        ] {
            assert!(
                logs.contains(needle),
                "{entries:?}: {needle} missing in {logs}"
            );
        }
        assert!(logs.contains("WARN"), "{logs}");
    }
}

#[test]
fn malformed_entries_stop_start_up_naming_the_key_or_variable() {
    let w = world();
    for bad in [
        "spiffe://",
        "spiffe:///ns/gw",
        "",
        "a.*.example.com",
        "spiffe://td/*/sa/x",
    ] {
        let layer = ServerTlsLayer {
            allowed_clients: Some(vec!["ok.example.com".into(), bad.into()]),
            ..server_layer(&w)
        };
        let err = resolve_server_tls(Some(&layer), &env(&[]), &MCP_SERVER_TLS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server_settings.tls.allowed_clients")
                && err.contains(&format!("{bad:?}")),
            "{bad:?}: {err}"
        );
    }
    let err = resolve_server_tls(
        Some(&server_layer(&w)),
        &env(&[(
            vars::PLUGINS_SERVER_SSL_ALLOWED_CLIENTS,
            "gw.example.com,,x",
        )]),
        &MCP_SERVER_TLS,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PLUGINS_SERVER_SSL_ALLOWED_CLIENTS") && err.contains("empty"),
        "{err}"
    );
    let empty = ServerTlsLayer {
        allowed_clients: Some(Vec::new()),
        ..server_layer(&w)
    };
    let err = resolve_server_tls(Some(&empty), &env(&[]), &MCP_SERVER_TLS)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is empty") && err.contains("allowed_clients"),
        "{err}"
    );
}

#[test]
fn allow_list_needs_required_client_certificates() {
    let w = world();
    let layer = ServerTlsLayer {
        allowed_clients: Some(vec!["gw.example.com".into()]),
        ssl_cert_reqs: Some(1),
        ..server_layer(&w)
    };
    let err = resolve_server_tls(Some(&layer), &env(&[]), &MCP_SERVER_TLS)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ssl_cert_reqs") && err.contains("allowed_clients"),
        "{err}"
    );
}

#[test]
fn env_overrides_yaml_for_allowed_clients() {
    let w = world();
    let gw = leaf(
        &w,
        "gw",
        "mcp-gateway",
        &["gw.example.com"],
        &[SPIFFE_GW],
        true,
        9,
    );
    let layer = ServerTlsLayer {
        allowed_clients: Some(vec!["nobody.example.com".into()]),
        ..server_layer(&w)
    };
    let yaml_only = resolve(&layer, &[]);
    assert_eq!(
        yaml_only.allowed_clients.as_ref().unwrap().origin,
        Origin::Yaml("server_settings.tls.allowed_clients".into())
    );
    let out = handshake(
        build_server_config(&yaml_only).unwrap(),
        client_with(&w, &gw),
        "localhost",
    );
    assert!(out.server.is_err(), "YAML list refuses the gateway");

    let with_env = resolve(
        &layer,
        &[(
            vars::PLUGINS_SERVER_SSL_ALLOWED_CLIENTS,
            " other.example.com , spiffe://cluster.local/ns/gw/sa/* ",
        )],
    );
    let list = with_env.allowed_clients.as_ref().unwrap();
    assert_eq!(
        list.origin,
        Origin::Env(vars::PLUGINS_SERVER_SSL_ALLOWED_CLIENTS)
    );
    assert_eq!(list.entries.len(), 2);
    let out = handshake(
        build_server_config(&with_env).unwrap(),
        client_with(&w, &gw),
        "localhost",
    );
    assert!(out.server.is_ok() && out.client.is_ok(), "{:?}", out.server);
}

#[test]
fn grpc_side_has_its_own_keys_and_the_same_verifier() {
    let w = world();
    let gw = leaf(&w, "gw", "mcp-gateway", &["gw.example.com"], &[], true, 10);
    let layer = ServerTlsLayer {
        client_auth: Some("require".into()),
        ..server_layer(&w)
    };
    let pairs = [(
        vars::PLUGINS_GRPC_SERVER_SSL_ALLOWED_CLIENTS,
        "nobody.example.com",
    )];
    let settings = resolve_server_tls(Some(&layer), &env(&pairs), &GRPC_SERVER_TLS)
        .unwrap()
        .unwrap();
    let out = handshake(
        build_server_config(&settings).unwrap(),
        client_with(&w, &gw),
        "localhost",
    );
    let err = out.server.expect_err("gRPC side refuses too");
    assert!(
        matches!(refusal(&err), Some(CertRefusal::NotAllowed { .. })),
        "{err:?}"
    );
    let bad = ServerTlsLayer {
        allowed_clients: Some(vec!["spiffe://".into()]),
        ..layer
    };
    let err = resolve_server_tls(Some(&bad), &env(&[]), &GRPC_SERVER_TLS)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grpc_server_settings.tls.allowed_clients"),
        "{err}"
    );
}

#[test]
fn a_revoked_client_is_refused_after_the_crl_file_is_replaced_and_reloaded() {
    let w = world();
    let gw = leaf(
        &w,
        "gw",
        "mcp-gateway",
        &["gw.example.com"],
        &[],
        true,
        0x1234,
    );
    let crl = w.root.join("ca.crl");
    write_crl(&w.pki, &crl, &[0x99]);
    let layer = ServerTlsLayer {
        ca_crl: Some(crl.clone()),
        ..server_layer(&w)
    };
    let reloadable = ReloadableServerConfig::new(resolve(&layer, &[])).unwrap();
    let out = handshake(reloadable.current(), client_with(&w, &gw), "localhost");
    assert!(out.server.is_ok(), "not revoked yet: {:?}", out.server);

    assert!(
        !reloadable.reload_if_changed().unwrap(),
        "nothing changed yet"
    );
    write_crl(&w.pki, &crl, &[0x99, 0x1234]);
    assert!(
        reloadable.reload_if_changed().unwrap(),
        "the new CRL is seen"
    );
    let out = handshake(reloadable.current(), client_with(&w, &gw), "localhost");
    assert!(
        matches!(
            out.server,
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
        ),
        "{:?}",
        out.server
    );

    // A broken CRL at reload keeps the old config (still refusing) and says which file.
    std::fs::write(
        &crl,
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    )
    .unwrap();
    let err = reloadable.reload_if_changed().unwrap_err().to_string();
    assert!(
        err.contains("ca.crl") && err.contains("server_settings.tls.ca_crl"),
        "{err}"
    );
    let out = handshake(reloadable.current(), client_with(&w, &gw), "localhost");
    assert!(out.server.is_err());
}

#[test]
fn a_broken_or_foreign_crl_is_an_error_naming_the_key_and_file() {
    let w = world();
    let garbage = w.root.join("garbage.crl");
    std::fs::write(&garbage, "not a crl at all").unwrap();
    let other = Pki::new(&w.root, "other");
    let foreign = w.root.join("foreign.crl");
    write_crl(&other, &foreign, &[1]);
    let der = w.root.join("der.crl");
    write_crl(&w.pki, &der, &[1]);
    let pem = std::fs::read_to_string(&der).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    std::fs::write(&der, rustls_pem_decode(&body)).unwrap();

    for (file, why) in [
        (&garbage, "holds no CRL"),
        (&foreign, "not a CA in the CA bundle"),
    ] {
        let layer = ServerTlsLayer {
            ca_crl: Some(file.clone()),
            ..server_layer(&w)
        };
        let err = build_server_config(&resolve(&layer, &[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server_settings.tls.ca_crl")
                && err.contains(file.file_name().unwrap().to_str().unwrap())
                && err.contains(why),
            "{err}"
        );
        let err = build_server_config(&resolve(
            &server_layer(&w),
            &[(vars::PLUGINS_SERVER_SSL_CA_CRL, file.to_str().unwrap())],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("PLUGINS_SERVER_SSL_CA_CRL"), "{err}");
    }
    // A DER CRL from the right CA is fine.
    let layer = ServerTlsLayer {
        ca_crl: Some(der),
        ..server_layer(&w)
    };
    build_server_config(&resolve(&layer, &[])).unwrap();
}

/// Base64 decoding for the DER test (the test deps have no base64 crate).
fn rustls_pem_decode(b64: &str) -> Vec<u8> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in b64.bytes().filter(|c| *c != b'=') {
        let v = T.iter().position(|t| *t == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

// ---------------------------------------------------------------- client side

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

fn plain_server(identity: &(PathBuf, PathBuf)) -> Arc<rustls::ServerConfig> {
    build_server_config(&ServerTlsSettings::new(
        &identity.0,
        Some(identity.1.clone()),
        None,
        plugwire_tls::ClientCertPolicy::None,
    ))
    .unwrap()
}

#[test]
fn pinned_server_name_is_checked_with_and_without_check_hostname() {
    let w = world();
    let plugin = leaf(
        &w,
        "pinned",
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
            let client = build_client_config(&pinned(&w, pin, check_hostname)).unwrap();
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
            let client = build_client_config(&settings).unwrap();
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
    let foreign = other.leaf(
        "foreign",
        "plugin",
        &["plugin.internal"],
        SERVER_AUTH,
        common::Validity::Now,
    );
    let client = build_client_config(&pinned(&w, "plugin.internal", false)).unwrap();
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
    let plugin = leaf(&w, "srv", "plugin", &["localhost"], &[], false, 0x77);
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
