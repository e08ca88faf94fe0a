//! docs/decisions.md #1 on the gateway side: `mcp.tls` ← each set `PLUGINS_CLIENT_MTLS_*` variable, with a
//! HashMap env, and errors that name the variable or the plugin's YAML key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::files;
use plugwire_tls::{
    resolve_client_tls, resolve_client_tls_named, resolve_grpc_client_tls, vars, ClientTlsLayer,
    Origin, TlsError,
};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn err_text(r: Result<impl std::fmt::Debug, TlsError>) -> String {
    r.expect_err("expected an error").to_string()
}

// ---------------------------------------------------------------- client side

#[test]
fn client_nothing_configured_is_none() {
    assert!(resolve_client_tls(None, &env(&[])).unwrap().is_none());
    assert!(
        resolve_client_tls(None, &env(&[(vars::PLUGINS_CLIENT_MTLS_VERIFY, "")]))
            .unwrap()
            .is_none()
    );
}

#[test]
fn client_yaml_only_with_defaults() {
    let f = files();
    let layer = ClientTlsLayer {
        ca_bundle: Some(f.ca.clone()),
        ..Default::default()
    };
    let st = resolve_client_tls(Some(&layer), &env(&[]))
        .unwrap()
        .unwrap();
    assert!(st.verify && st.check_hostname);
    assert_eq!(st.ca_bundle, Some(f.ca.clone()));
    assert_eq!(st.certfile, None);
}

#[test]
fn client_env_overrides_yaml_field_by_field() {
    let f = files();
    let other = f.root.join("other-ca.crt");
    std::fs::copy(&f.ca, &other).unwrap();
    let layer = ClientTlsLayer {
        certfile: Some(f.cert.clone()),
        keyfile: Some(f.key.clone()),
        ca_bundle: Some(f.ca.clone()),
        check_hostname: Some(true),
        ..Default::default()
    };
    let e = env(&[
        (vars::PLUGINS_CLIENT_MTLS_CA_BUNDLE, &s(&other)),
        (vars::PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME, "No"),
    ]);
    let st = resolve_client_tls(Some(&layer), &e).unwrap().unwrap();
    assert_eq!(st.ca_bundle, Some(other));
    assert_eq!(st.certfile, Some(f.cert.clone()), "certfile from YAML kept");
    assert!(!st.check_hostname && st.verify);
    assert_eq!(
        st.origins.check_hostname,
        Origin::Env(vars::PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME)
    );
    assert_eq!(st.origins.certfile, Origin::Yaml("mcp.tls.certfile".into()));

    let st = resolve_client_tls(
        Some(&layer),
        &env(&[(vars::PLUGINS_CLIENT_MTLS_VERIFY, "off")]),
    )
    .unwrap()
    .unwrap();
    assert!(!st.verify);
}

#[test]
fn client_env_only() {
    let f = files();
    let e = env(&[
        (vars::PLUGINS_CLIENT_MTLS_CERTFILE, &s(&f.bundle)),
        (vars::PLUGINS_CLIENT_MTLS_CA_BUNDLE, &s(&f.ca)),
    ]);
    let st = resolve_client_tls(None, &e).unwrap().unwrap();
    assert_eq!(st.certfile, Some(f.bundle.clone()));
    assert_eq!(st.keyfile, None, "key comes from the client.pem bundle");
}

#[test]
fn client_errors_name_variables_and_keys() {
    let f = files();
    let msg = err_text(resolve_client_tls(
        None,
        &env(&[(vars::PLUGINS_CLIENT_MTLS_VERIFY, "sure")]),
    ));
    assert!(
        msg.contains("PLUGINS_CLIENT_MTLS_VERIFY") && msg.contains("sure"),
        "{msg}"
    );

    let layer = ClientTlsLayer {
        keyfile: Some(f.key.clone()),
        ..Default::default()
    };
    let msg = err_text(resolve_client_tls(Some(&layer), &env(&[])));
    assert!(
        msg.contains("`mcp.tls.keyfile`") && msg.contains("mcp.tls.certfile"),
        "{msg}"
    );

    let layer = ClientTlsLayer {
        ca_bundle: Some(f.root.join("missing-ca.crt")),
        ..Default::default()
    };
    let msg = err_text(resolve_client_tls_named(
        "MyFilter",
        Some(&layer),
        &env(&[]),
    ));
    assert!(
        msg.contains("`plugins[MyFilter].mcp.tls.ca_bundle`") && msg.contains("missing-ca.crt"),
        "{msg}"
    );

    let layer = ClientTlsLayer {
        certfile: Some(f.cert.clone()),
        ..Default::default()
    };
    let msg = err_text(resolve_client_tls(Some(&layer), &env(&[])));
    assert!(msg.contains("PLUGINS_CLIENT_MTLS_KEYFILE"), "{msg}");
}

// ---------------------------------------------------------------- gRPC client

#[test]
fn grpc_client_env_applies_only_without_a_tls_block() {
    let f = files();
    let e = env(&[
        (vars::PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE, &s(&f.ca)),
        (vars::PLUGINS_GRPC_CLIENT_MTLS_VERIFY, "false"),
    ]);
    assert!(resolve_grpc_client_tls("G", None, &env(&[]))
        .unwrap()
        .is_none());
    let t = resolve_grpc_client_tls("G", None, &e).unwrap().unwrap();
    assert_eq!(t.ca_bundle.as_deref(), Some(f.ca.as_path()));
    assert!(!t.verify);
    assert_eq!(
        t.origins.verify,
        Origin::Env(vars::PLUGINS_GRPC_CLIENT_MTLS_VERIFY)
    );

    // As upstream: an entry with `grpc.tls` ignores every variable.
    let yaml = ClientTlsLayer {
        certfile: Some(f.bundle.clone()),
        ..Default::default()
    };
    let t = resolve_grpc_client_tls("G", Some(&yaml), &e)
        .unwrap()
        .unwrap();
    assert_eq!(t.ca_bundle, None);
    assert!(t.verify && t.check_hostname);
    assert_eq!(
        t.origins.certfile,
        Origin::Yaml("plugins[G].grpc.tls.certfile".into())
    );

    // The MCP variables never reach gRPC entries, and errors name gRPC's keys.
    let mcp_only = env(&[(vars::PLUGINS_CLIENT_MTLS_VERIFY, "false")]);
    assert!(resolve_grpc_client_tls("G", None, &mcp_only)
        .unwrap()
        .is_none());
    let bad = env(&[(vars::PLUGINS_GRPC_CLIENT_MTLS_KEYFILE, &s(&f.key))]);
    let msg = err_text(resolve_grpc_client_tls("G", None, &bad));
    assert!(
        msg.contains("PLUGINS_GRPC_CLIENT_MTLS_KEYFILE")
            && msg.contains("plugins[G].grpc.tls.certfile"),
        "{msg}"
    );
}
