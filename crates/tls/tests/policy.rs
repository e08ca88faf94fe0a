//! Who may call, server side: `allowed_clients` (DNS SAN, URI SAN, CN, wildcards) refused in the
//! handshake and logged, its bad entries and env override, and `ca_crl` (including a reload that
//! picks up a new CRL). In-memory handshakes. The allow-list handshakes build both sides from
//! in-memory material; the tests of settings resolution (YAML key or variable, gRPC keys) and of
//! CRL files load the server from its files, which are what they test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::policy::{
    allow, client_with, env, leaf, refusal, resolve, server_layer, world, write_crl, SPIFFE_GW,
};
use common::{capture_logs, handshake, Pki};
use plugwire_tls::rustls::{self, CertificateError};
use plugwire_tls::{
    load_server_config, resolve_server_tls, vars, CertRefusal, Origin, ReloadableServerConfig,
    ServerTlsLayer, ServerTlsNames, GRPC_SERVER_TLS, MCP_SERVER_TLS,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;

/// The allow-lists both handshake tests run, each with whether it admits the gateway
/// (DNS `gw.example.com`, URI [`SPIFFE_GW`], CN `mcp-gateway`). None admits the intruder
/// (DNS `intruder.example.org`, URI `spiffe://cluster.local/ns/other/sa/x`, CN `intruder`).
const ALLOW_TABLE: &[(&[&str], bool)] = &[
    (&["gw.example.com"], true),
    (&[SPIFFE_GW], true),
    (&["mcp-gateway"], true),
    (&["CN:MCP-Gateway"], true),
    (&["*.example.com"], true),
    (&["spiffe://cluster.local/ns/gw/sa/*"], true),
    (&["someone-else", "DNS:gw.example.com"], true),
    (&["DNS:intruder"], false),
    (&["CN:intruder.example.org"], false),
];

/// Why `layer` (with no variables set) does not resolve.
fn refused(layer: &ServerTlsLayer, names: &ServerTlsNames) -> String {
    resolve_server_tls(Some(layer), &env(&[]), names)
        .unwrap_err()
        .to_string()
}

#[test]
fn allowed_dns_uri_and_cn_identities_are_accepted() {
    let w = world();
    let gw = leaf(
        &w,
        "mcp-gateway",
        &["gw.example.com"],
        &[SPIFFE_GW],
        true,
        7,
    );
    let client = client_with(&w, &gw);
    for (entries, admits_gw) in ALLOW_TABLE {
        let out = handshake(allow(&w, entries), client.clone(), "localhost");
        assert_eq!(
            out.server.is_ok() && out.client.is_ok(),
            *admits_gw,
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
        "intruder",
        &["intruder.example.org"],
        &["spiffe://cluster.local/ns/other/sa/x"],
        true,
        8,
    );
    let client = client_with(&w, &other);
    for (entries, _) in ALLOW_TABLE {
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
        let err = refused(&layer, &MCP_SERVER_TLS);
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
    let err = refused(&empty, &MCP_SERVER_TLS);
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
    let err = refused(&layer, &MCP_SERVER_TLS);
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
        load_server_config(&yaml_only).unwrap(),
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
        load_server_config(&with_env).unwrap(),
        client_with(&w, &gw),
        "localhost",
    );
    assert!(out.server.is_ok() && out.client.is_ok(), "{:?}", out.server);
}

#[test]
fn grpc_side_has_its_own_keys_and_the_same_verifier() {
    let w = world();
    let gw = leaf(&w, "mcp-gateway", &["gw.example.com"], &[], true, 10);
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
        load_server_config(&settings).unwrap(),
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
    let err = refused(&bad, &GRPC_SERVER_TLS);
    assert!(
        err.contains("grpc_server_settings.tls.allowed_clients"),
        "{err}"
    );
}

#[test]
fn a_revoked_client_is_refused_after_the_crl_file_is_replaced_and_reloaded() {
    let w = world();
    let gw = leaf(&w, "mcp-gateway", &["gw.example.com"], &[], true, 0x1234);
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
    let crl = CertificateRevocationListDer::from_pem_file(&der).unwrap();
    std::fs::write(&der, crl.as_ref()).unwrap();

    for (file, why) in [
        (&garbage, "holds no CRL"),
        (&foreign, "not a CA in the CA bundle"),
    ] {
        let layer = ServerTlsLayer {
            ca_crl: Some(file.clone()),
            ..server_layer(&w)
        };
        let err = load_server_config(&resolve(&layer, &[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server_settings.tls.ca_crl")
                && err.contains(file.file_name().unwrap().to_str().unwrap())
                && err.contains(why),
            "{err}"
        );
        let err = load_server_config(&resolve(
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
    load_server_config(&resolve(&layer, &[])).unwrap();
}
