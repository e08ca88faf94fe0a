//! Transport choice and the gRPC / raw Unix-socket settings, table-tested with a HashMap env
//! (never the process environment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tls/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use plugwire_env::{vars, Origin};
use plugwire_server::transport::{
    parse_transports, resolve_grpc_server_settings, resolve_transports,
    resolve_unix_socket_settings, GrpcServerLayer, Transport, UnixSocketLayer,
    DEFAULT_UNIX_SOCKET_PATH,
};
use plugwire_tls::{ClientCertPolicy, ServerTlsLayer};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn transport_lists() {
    use Transport::*;
    let rows: Vec<(&str, Vec<Transport>)> = vec![
        ("http", vec![Http]),
        ("HTTP", vec![Http]),
        ("stdio", vec![Stdio]),
        ("grpc", vec![Grpc]),
        ("unix", vec![Unix]),
        ("http,grpc", vec![Http, Grpc]),
        (" grpc , http ,", vec![Grpc, Http]),
        ("http,http", vec![Http]),
    ];
    for (text, want) in rows {
        assert_eq!(parse_transports(text, "x").unwrap().list, want, "{text}");
    }
}

#[test]
fn unknown_transport_names_the_variable_and_the_valid_values() {
    for bad in ["grcp", "http,websocket", ",", "sse"] {
        let err = resolve_transports(false, None, &env(&[(vars::PLUGINS_TRANSPORT, bad)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PLUGINS_TRANSPORT"), "{err}");
        assert!(err.contains("http, stdio, grpc or unix"), "{err}");
    }
    let err = resolve_transports(false, Some("nope"), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--transport") && err.contains("\"nope\""),
        "{err}"
    );
}

#[test]
fn transport_precedence() {
    let e = env(&[(vars::PLUGINS_TRANSPORT, "grpc")]);
    assert_eq!(
        resolve_transports(false, None, &e).unwrap().list,
        [Transport::Grpc]
    );
    assert_eq!(
        resolve_transports(false, Some("http"), &e).unwrap().list,
        [Transport::Http],
        "--transport wins over the variable"
    );
    assert!(
        resolve_transports(true, None, &e).unwrap().is_stdio(),
        "--stdio wins"
    );
    let d = resolve_transports(false, None, &env(&[(vars::PLUGINS_TRANSPORT, " ")])).unwrap();
    assert_eq!(
        (d.list, d.origin),
        (vec![Transport::Http], Origin::Default.to_string())
    );
}

#[test]
fn stdio_runs_alone() {
    let err = parse_transports("http,stdio", "PLUGINS_TRANSPORT")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stdio") && err.contains("PLUGINS_TRANSPORT"),
        "{err}"
    );
    assert!(resolve_transports(true, Some("grpc"), &env(&[])).is_err());
    assert!(resolve_transports(true, Some("stdio"), &env(&[]))
        .unwrap()
        .is_stdio());
}

#[test]
fn grpc_defaults_and_env_over_yaml_field_by_field() {
    let s = resolve_grpc_server_settings(None, &env(&[])).unwrap();
    assert_eq!(
        (s.endpoint.host.value.as_str(), s.endpoint.port.value),
        ("127.0.0.1", 50051)
    );
    assert!(s.tls.is_none() && s.endpoint.uds.is_none());

    let yaml = GrpcServerLayer {
        host: Some("0.0.0.0".into()),
        port: Some(6000),
        ..Default::default()
    };
    let s = resolve_grpc_server_settings(
        Some(&yaml),
        &env(&[(vars::PLUGINS_GRPC_SERVER_PORT, "7000")]),
    )
    .unwrap();
    // Upstream drops every variable when the YAML block exists; we keep the field-by-field rule.
    assert_eq!(s.endpoint.port.value, 7000);
    assert_eq!(
        s.endpoint.port.origin,
        Origin::Env(vars::PLUGINS_GRPC_SERVER_PORT)
    );
    assert_eq!(s.endpoint.host.value, "0.0.0.0");
    assert_eq!(
        s.endpoint.host.origin,
        Origin::Yaml("grpc_server_settings.host".into())
    );

    let err =
        resolve_grpc_server_settings(None, &env(&[(vars::PLUGINS_GRPC_SERVER_PORT, "70000")]))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("PLUGINS_GRPC_SERVER_PORT") && err.contains("70000"),
        "{err}"
    );
}

fn grpc_tls(f: &common::Files, client_auth: Option<&str>) -> ServerTlsLayer {
    ServerTlsLayer {
        certfile: Some(f.cert.clone()),
        keyfile: Some(f.key.clone()),
        ca_bundle: Some(f.ca.clone()),
        client_auth: client_auth.map(str::to_string),
        ..Default::default()
    }
}

#[test]
fn grpc_client_auth_words_any_case_default_require() {
    let f = common::files();
    let rows = [
        (None, ClientCertPolicy::Required),
        (Some("none"), ClientCertPolicy::None),
        (Some("Optional"), ClientCertPolicy::Optional),
        (Some("REQUIRE"), ClientCertPolicy::Required),
    ];
    for (word, want) in rows {
        let yaml = GrpcServerLayer {
            tls: Some(grpc_tls(&f, word)),
            ..Default::default()
        };
        let s = resolve_grpc_server_settings(Some(&yaml), &env(&[])).unwrap();
        assert_eq!(s.tls.unwrap().client_auth, want, "{word:?}");
    }
    let yaml = GrpcServerLayer {
        tls: Some(grpc_tls(&f, Some("none"))),
        ..Default::default()
    };
    let s = resolve_grpc_server_settings(
        Some(&yaml),
        &env(&[(vars::PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH, "require")]),
    )
    .unwrap();
    assert_eq!(
        s.tls.unwrap().client_auth,
        ClientCertPolicy::Required,
        "env wins"
    );

    let yaml = GrpcServerLayer {
        tls: Some(grpc_tls(&f, Some("sometimes"))),
        ..Default::default()
    };
    let err = resolve_grpc_server_settings(Some(&yaml), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grpc_server_settings.tls.client_auth")
            && err.contains("none, optional or require"),
        "{err}"
    );
}

#[test]
fn grpc_tls_by_env_and_its_errors_name_grpc_settings() {
    let f = common::files();
    let cert = f.cert.display().to_string();
    let key = f.key.display().to_string();
    let s = resolve_grpc_server_settings(
        None,
        &env(&[
            (vars::PLUGINS_GRPC_SERVER_SSL_ENABLED, "true"),
            (vars::PLUGINS_GRPC_SERVER_SSL_CERTFILE, &cert),
            (vars::PLUGINS_GRPC_SERVER_SSL_KEYFILE, &key),
            (vars::PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH, "none"),
        ]),
    )
    .unwrap();
    let tls = s.tls.unwrap();
    assert_eq!(tls.certfile, f.cert);
    assert_eq!(tls.client_auth, ClientCertPolicy::None);

    // require without a CA bundle: named in gRPC's own spelling, when the files are loaded.
    let resolved = resolve_grpc_server_settings(
        None,
        &env(&[
            (vars::PLUGINS_GRPC_SERVER_SSL_ENABLED, "true"),
            (vars::PLUGINS_GRPC_SERVER_SSL_CERTFILE, &cert),
            (vars::PLUGINS_GRPC_SERVER_SSL_KEYFILE, &key),
        ]),
    )
    .unwrap();
    let err = plugwire_tls::LoadedServerTls::load(&resolved.tls.unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("client_auth=require")
            && err.contains("PLUGINS_GRPC_SERVER_SSL_CA_CERTS")
            && err.contains("client_auth to none"),
        "{err}"
    );

    // A TLS file variable while gRPC TLS is off.
    let err = resolve_grpc_server_settings(
        None,
        &env(&[(vars::PLUGINS_GRPC_SERVER_SSL_CERTFILE, &cert)]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PLUGINS_GRPC_SERVER_SSL_ENABLED") && err.contains("grpc_server_settings.tls"),
        "{err}"
    );

    // TLS with a Unix socket.
    let sock = f.root.join("g.sock").display().to_string();
    let err = resolve_grpc_server_settings(
        Some(&GrpcServerLayer {
            tls: Some(grpc_tls(&f, None)),
            ..Default::default()
        }),
        &env(&[(vars::PLUGINS_GRPC_SERVER_UDS, &sock)]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PLUGINS_GRPC_SERVER_UDS") && err.contains("not supported"),
        "{err}"
    );
}

#[test]
fn unix_socket_path_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let yaml = UnixSocketLayer {
        path: Some(PathBuf::from(p("yaml.sock"))),
    };
    let (a, b) = (p("a.sock"), p("b.sock"));
    type Row<'a> = (
        Vec<(&'a str, &'a str)>,
        Option<&'a UnixSocketLayer>,
        String,
        Origin,
    );
    let rows: Vec<Row> = vec![
        (
            vec![],
            None,
            DEFAULT_UNIX_SOCKET_PATH.into(),
            Origin::Default,
        ),
        (
            vec![],
            Some(&yaml),
            p("yaml.sock"),
            Origin::Yaml("unix_socket_server_settings.path".into()),
        ),
        (
            vec![(vars::UNIX_SOCKET_PATH, &b)],
            Some(&yaml),
            b.clone(),
            Origin::Env(vars::UNIX_SOCKET_PATH),
        ),
        (
            vec![
                (vars::PLUGINS_UNIX_SOCKET_PATH, &a),
                (vars::UNIX_SOCKET_PATH, &b),
            ],
            Some(&yaml),
            a.clone(),
            Origin::Env(vars::PLUGINS_UNIX_SOCKET_PATH),
        ),
        (
            vec![
                (vars::PLUGINS_UNIX_SOCKET_PATH, ""),
                (vars::UNIX_SOCKET_PATH, &b),
            ],
            None,
            b.clone(),
            Origin::Env(vars::UNIX_SOCKET_PATH),
        ),
    ];
    for (pairs, yaml, want, origin) in rows {
        let s = resolve_unix_socket_settings(yaml, &env(&pairs)).unwrap();
        assert_eq!(s.path.value, PathBuf::from(&want), "{pairs:?}");
        assert_eq!(s.path.origin, origin, "{pairs:?}");
    }
    let err =
        resolve_unix_socket_settings(None, &env(&[(vars::PLUGINS_UNIX_SOCKET_PATH, "rel.sock")]))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("PLUGINS_UNIX_SOCKET_PATH") && err.contains("absolute"),
        "{err}"
    );
}

/// `grpc_server_settings.tls.allowed_clients` resolves into the gRPC listener's allow-list (the
/// one its acceptor enforces), the gRPC variable wins over it, and a bad entry is an error naming
/// the gRPC key or variable, not the MCP ones.
#[test]
fn grpc_allowed_clients_from_yaml_and_env() {
    let f = common::files();
    let with_list = |list: &[&str]| GrpcServerLayer {
        tls: Some(ServerTlsLayer {
            allowed_clients: Some(list.iter().map(|s| s.to_string()).collect()),
            ..grpc_tls(&f, None)
        }),
        ..Default::default()
    };
    let written = |s: plugwire_server::transport::GrpcServerSettings| {
        s.tls
            .and_then(|t| t.allowed_clients)
            .map(|l| (l.to_string(), l.origin.to_string()))
    };

    let yaml = with_list(&["spiffe://cluster.local/ns/gw/sa/gateway", "*.gw.internal"]);
    let s = resolve_grpc_server_settings(Some(&yaml), &env(&[])).unwrap();
    let (list, origin) = written(s).expect("an allow-list");
    assert_eq!(
        list,
        "spiffe://cluster.local/ns/gw/sa/gateway, *.gw.internal"
    );
    assert!(
        origin.contains("grpc_server_settings.tls.allowed_clients"),
        "{origin}"
    );

    let s = resolve_grpc_server_settings(
        Some(&yaml),
        &env(&[(
            vars::PLUGINS_GRPC_SERVER_SSL_ALLOWED_CLIENTS,
            "gateway-b, cn:gw",
        )]),
    )
    .unwrap();
    let (list, origin) = written(s).expect("an allow-list");
    assert_eq!(list, "gateway-b, cn:gw", "the variable wins");
    assert!(
        origin.contains("PLUGINS_GRPC_SERVER_SSL_ALLOWED_CLIENTS"),
        "{origin}"
    );

    let err = resolve_grpc_server_settings(Some(&with_list(&["spiffe://"])), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grpc_server_settings.tls.allowed_clients") && err.contains("spiffe://"),
        "{err}"
    );
    assert!(
        !err.contains("server_settings.tls.allowed_clients ("),
        "{err}"
    );

    // Only with client certificates required, in gRPC's own words.
    let optional = GrpcServerLayer {
        tls: Some(ServerTlsLayer {
            allowed_clients: Some(vec!["gateway".into()]),
            ..grpc_tls(&f, Some("optional"))
        }),
        ..Default::default()
    };
    let err = resolve_grpc_server_settings(Some(&optional), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("client_auth"), "{err}");
}
