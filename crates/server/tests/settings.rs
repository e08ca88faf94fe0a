//! docs/decisions.md #1 on the server side, rule by rule: defaults ← YAML ← each set env var, with a HashMap env (never
//! `set_var`), and error messages that name the variable or YAML key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The TLS crate's rcgen test PKI (files in a tempdir), shared rather than copied.
#[path = "../../tls/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;

use plugwire_env::vars;
use plugwire_env::Env;
use plugwire_server::{resolve_server_settings, ServerError, ServerSettings, ServerSettingsLayer};
use plugwire_tls::{ClientCertPolicy, LoadedServerTls, Origin, ServerTlsLayer};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

use common::{files, Files};

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn tls_layer(f: &Files) -> ServerTlsLayer {
    ServerTlsLayer {
        certfile: Some(f.cert.clone()),
        keyfile: Some(f.key.clone()),
        ca_bundle: Some(f.ca.clone()),
        keyfile_password: None,
        ssl_cert_reqs: None,
        client_auth: None,
        require_valid_certificate: None,
        ..Default::default()
    }
}

/// Resolve, then the load step that reads the TLS files (where the key inside the certfile and
/// the CA bundle a client-certificate policy needs are checked).
fn resolve_and_load(
    yaml: Option<&ServerSettingsLayer>,
    env: &dyn Env,
) -> Result<ServerSettings, ServerError> {
    let settings = resolve_server_settings(yaml, env)?;
    if let Some(tls) = &settings.tls {
        LoadedServerTls::load(tls)?;
    }
    Ok(settings)
}

fn err_text(r: Result<impl std::fmt::Debug, ServerError>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn defaults_without_yaml_or_env() {
    let st = resolve_server_settings(None, &env(&[])).unwrap();
    assert_eq!((st.host.as_str(), st.port), ("127.0.0.1", 8000));
    assert!(st.tls.is_none() && st.uds.is_none());
    assert_eq!(st.port_origin, Origin::Default);
}

#[test]
fn env_overrides_yaml_field_by_field() {
    let yaml = ServerSettingsLayer {
        host: Some("0.0.0.0".into()),
        port: Some(9000),
        ..Default::default()
    };
    let st = resolve_server_settings(
        Some(&yaml),
        &env(&[(vars::PLUGINS_SERVER_HOST, "127.0.0.2")]),
    )
    .unwrap();
    assert_eq!(st.host, "127.0.0.2");
    assert_eq!(st.host_origin, Origin::Env(vars::PLUGINS_SERVER_HOST));
    assert_eq!(st.port, 9000, "port not overridden stays from YAML");
    assert_eq!(st.port_origin, Origin::Yaml("server_settings.port".into()));

    let st = resolve_server_settings(Some(&yaml), &env(&[(vars::PLUGINS_SERVER_PORT, " 9100 ")]))
        .unwrap();
    assert_eq!((st.host.as_str(), st.port), ("0.0.0.0", 9100));
}

#[test]
fn empty_env_value_counts_as_unset() {
    let yaml = ServerSettingsLayer {
        host: Some("0.0.0.0".into()),
        port: Some(9000),
        ..Default::default()
    };
    let e = env(&[
        (vars::PLUGINS_SERVER_HOST, ""),
        (vars::PLUGINS_SERVER_PORT, ""),
        (vars::PLUGINS_SERVER_SSL_ENABLED, ""),
    ]);
    let st = resolve_server_settings(Some(&yaml), &e).unwrap();
    assert_eq!((st.host.as_str(), st.port), ("0.0.0.0", 9000));
    assert!(st.tls.is_none());
}

#[test]
fn port_must_be_in_range_and_errors_name_the_source() {
    for bad in ["abc", "0", "65536", "-1", "80.5"] {
        let msg = err_text(resolve_server_settings(
            None,
            &env(&[(vars::PLUGINS_SERVER_PORT, bad)]),
        ));
        assert!(
            msg.contains("PLUGINS_SERVER_PORT") && msg.contains(bad),
            "{msg}"
        );
    }
    let st = resolve_server_settings(None, &env(&[(vars::PLUGINS_SERVER_PORT, "65535")])).unwrap();
    assert_eq!(st.port, 65535);
    for bad in [0, 65536, -5] {
        let yaml = ServerSettingsLayer {
            port: Some(bad),
            ..Default::default()
        };
        let msg = err_text(resolve_server_settings(Some(&yaml), &env(&[])));
        assert!(msg.contains("`server_settings.port`"), "{msg}");
    }
}

#[test]
fn bad_boolean_names_the_variable() {
    for bad in ["maybe", "2", "enabled"] {
        let msg = err_text(resolve_server_settings(
            None,
            &env(&[(vars::PLUGINS_SERVER_SSL_ENABLED, bad)]),
        ));
        assert!(
            msg.contains("PLUGINS_SERVER_SSL_ENABLED") && msg.contains(bad),
            "{msg}"
        );
    }
}

#[test]
fn ssl_enabled_false_turns_yaml_tls_off() {
    let f = files();
    let yaml = ServerSettingsLayer {
        tls: Some(tls_layer(&f)),
        ..Default::default()
    };
    for off in ["false", "0", "no", "OFF", "False"] {
        let st = resolve_server_settings(
            Some(&yaml),
            &env(&[(vars::PLUGINS_SERVER_SSL_ENABLED, off)]),
        )
        .unwrap();
        assert!(st.tls.is_none(), "{off}");
    }
}

#[test]
fn unset_ssl_enabled_keeps_yaml_choice_and_ssl_vars_override_fields() {
    let f = files();
    let other = common::Pki::new(&f.root, "other");
    let (cert2, key2) = other.server("server2");
    let yaml = ServerSettingsLayer {
        tls: Some(tls_layer(&f)),
        ..Default::default()
    };

    let st = resolve_server_settings(Some(&yaml), &env(&[])).unwrap();
    let tls = st.tls.unwrap();
    assert_eq!(tls.certfile, f.cert);
    assert_eq!(
        tls.client_auth,
        ClientCertPolicy::Required,
        "ssl_cert_reqs defaults to 2"
    );
    assert_eq!(
        tls.origins.enabled_by,
        Origin::Yaml("server_settings.tls".into())
    );

    let e = env(&[
        (vars::PLUGINS_SERVER_SSL_CERTFILE, &s(&cert2)),
        (vars::PLUGINS_SERVER_SSL_KEYFILE, &s(&key2)),
        (vars::PLUGINS_SERVER_SSL_CERT_REQS, "1"),
    ]);
    let tls = resolve_server_settings(Some(&yaml), &e)
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(
        (tls.certfile.clone(), tls.keyfile.clone()),
        (cert2, Some(key2))
    );
    assert_eq!(tls.ca_bundle, Some(f.ca.clone()), "CA from YAML kept");
    assert_eq!(tls.client_auth, ClientCertPolicy::Optional);
    assert_eq!(
        tls.origins.certfile,
        Origin::Env(vars::PLUGINS_SERVER_SSL_CERTFILE)
    );
    assert_eq!(
        tls.origins.ca_bundle,
        Origin::Yaml("server_settings.tls.ca_bundle".into())
    );
}

#[test]
fn ssl_enabled_true_from_env_only() {
    let f = files();
    let e = env(&[
        (vars::PLUGINS_SERVER_SSL_ENABLED, "yes"),
        (vars::PLUGINS_SERVER_SSL_CERTFILE, &s(&f.cert)),
        (vars::PLUGINS_SERVER_SSL_KEYFILE, &s(&f.key)),
        (vars::PLUGINS_SERVER_SSL_CA_CERTS, &s(&f.ca)),
    ]);
    let tls = resolve_server_settings(None, &e).unwrap().tls.unwrap();
    assert_eq!(
        tls.origins.enabled_by,
        Origin::Env(vars::PLUGINS_SERVER_SSL_ENABLED)
    );
    assert_eq!(tls.client_auth, ClientCertPolicy::Required);
}

#[test]
fn ssl_enabled_true_without_cert_names_both_places() {
    let msg = err_text(resolve_server_settings(
        None,
        &env(&[(vars::PLUGINS_SERVER_SSL_ENABLED, "true")]),
    ));
    for needle in [
        "server_settings.tls.certfile",
        "PLUGINS_SERVER_SSL_CERTFILE",
        "server_settings.tls.keyfile",
        "PLUGINS_SERVER_SSL_KEYFILE",
        "PLUGINS_SERVER_SSL_ENABLED",
    ] {
        assert!(msg.contains(needle), "{needle} missing in: {msg}");
    }
    // A YAML tls block without certfile is the same mistake.
    let yaml = ServerSettingsLayer {
        tls: Some(ServerTlsLayer::default()),
        ..Default::default()
    };
    let msg = err_text(resolve_server_settings(Some(&yaml), &env(&[])));
    assert!(msg.contains("server_settings.tls.certfile"), "{msg}");
}

#[test]
fn tls_var_without_tls_is_refused_not_ignored() {
    let f = files();
    let msg = err_text(resolve_server_settings(
        None,
        &env(&[(vars::PLUGINS_SERVER_SSL_CERTFILE, &s(&f.cert))]),
    ));
    assert!(
        msg.contains("PLUGINS_SERVER_SSL_CERTFILE")
            && msg.contains("PLUGINS_SERVER_SSL_ENABLED=true"),
        "{msg}"
    );
}

#[test]
fn keyfile_without_certfile() {
    let f = files();
    let e = env(&[
        (vars::PLUGINS_SERVER_SSL_ENABLED, "1"),
        (vars::PLUGINS_SERVER_SSL_KEYFILE, &s(&f.key)),
    ]);
    let msg = err_text(resolve_server_settings(None, &e));
    assert!(
        msg.contains("PLUGINS_SERVER_SSL_KEYFILE") && msg.contains("server_settings.tls.certfile"),
        "{msg}"
    );
}

#[test]
fn key_inside_certfile_or_missing() {
    let f = files();
    let e = env(&[
        (vars::PLUGINS_SERVER_SSL_ENABLED, "on"),
        (vars::PLUGINS_SERVER_SSL_CERTFILE, &s(&f.bundle)),
        (vars::PLUGINS_SERVER_SSL_CERT_REQS, "0"),
    ]);
    let tls = resolve_and_load(None, &e).unwrap().tls.unwrap();
    assert_eq!(tls.keyfile, None);
    let e = env(&[
        (vars::PLUGINS_SERVER_SSL_ENABLED, "on"),
        (vars::PLUGINS_SERVER_SSL_CERTFILE, &s(&f.cert)),
        (vars::PLUGINS_SERVER_SSL_CERT_REQS, "0"),
    ]);
    let msg = err_text(resolve_and_load(None, &e));
    assert!(
        msg.contains("no private key") && msg.contains("PLUGINS_SERVER_SSL_KEYFILE"),
        "{msg}"
    );
}

#[test]
fn ssl_cert_reqs_only_0_1_2() {
    let f = files();
    let base = tls_layer(&f);
    for (v, want) in [
        ("0", ClientCertPolicy::None),
        ("1", ClientCertPolicy::Optional),
        ("2", ClientCertPolicy::Required),
    ] {
        let yaml = ServerSettingsLayer {
            tls: Some(base.clone()),
            ..Default::default()
        };
        let tls = resolve_server_settings(
            Some(&yaml),
            &env(&[(vars::PLUGINS_SERVER_SSL_CERT_REQS, v)]),
        )
        .unwrap()
        .tls
        .unwrap();
        assert_eq!(tls.client_auth, want);
    }
    for bad in ["3", "two", "CERT_REQUIRED", "-1"] {
        let yaml = ServerSettingsLayer {
            tls: Some(base.clone()),
            ..Default::default()
        };
        let msg = err_text(resolve_server_settings(
            Some(&yaml),
            &env(&[(vars::PLUGINS_SERVER_SSL_CERT_REQS, bad)]),
        ));
        assert!(
            msg.contains("PLUGINS_SERVER_SSL_CERT_REQS") && msg.contains(bad),
            "{msg}"
        );
    }
    let yaml = ServerSettingsLayer {
        tls: Some(ServerTlsLayer {
            ssl_cert_reqs: Some(5),
            ..base.clone()
        }),
        ..Default::default()
    };
    let msg = err_text(resolve_server_settings(Some(&yaml), &env(&[])));
    assert!(msg.contains("`server_settings.tls.ssl_cert_reqs`"), "{msg}");
}

#[test]
fn client_cert_policy_needs_ca_bundle() {
    let f = files();
    for reqs in [1, 2] {
        let layer = ServerTlsLayer {
            ca_bundle: None,
            ssl_cert_reqs: Some(reqs),
            ..tls_layer(&f)
        };
        let yaml = ServerSettingsLayer {
            tls: Some(layer),
            ..Default::default()
        };
        let msg = err_text(resolve_and_load(Some(&yaml), &env(&[])));
        assert!(
            msg.contains("server_settings.tls.ca_bundle")
                && msg.contains("PLUGINS_SERVER_SSL_CA_CERTS"),
            "{msg}"
        );
    }
    let layer = ServerTlsLayer {
        ca_bundle: None,
        ssl_cert_reqs: Some(0),
        ..tls_layer(&f)
    };
    let yaml = ServerSettingsLayer {
        tls: Some(layer),
        ..Default::default()
    };
    assert!(resolve_and_load(Some(&yaml), &env(&[]))
        .unwrap()
        .tls
        .is_some());
}

#[test]
fn missing_files_name_their_source() {
    let f = files();
    let missing = f.root.join("nope.crt");
    let yaml = ServerSettingsLayer {
        tls: Some(ServerTlsLayer {
            certfile: Some(missing.clone()),
            ..tls_layer(&f)
        }),
        ..Default::default()
    };
    let msg = err_text(resolve_and_load(Some(&yaml), &env(&[])));
    assert!(
        msg.contains("`server_settings.tls.certfile`") && msg.contains("nope.crt"),
        "{msg}"
    );

    let yaml = ServerSettingsLayer {
        tls: Some(tls_layer(&f)),
        ..Default::default()
    };
    let msg = err_text(resolve_and_load(
        Some(&yaml),
        &env(&[(vars::PLUGINS_SERVER_SSL_CA_CERTS, &s(&missing))]),
    ));
    assert!(
        msg.contains("PLUGINS_SERVER_SSL_CA_CERTS") && msg.contains("CA bundle"),
        "{msg}"
    );
}

#[test]
fn unix_socket_rules() {
    let f = files();
    let msg = err_text(resolve_server_settings(
        None,
        &env(&[(vars::PLUGINS_SERVER_UDS, "rel/p.sock")]),
    ));
    assert!(
        msg.contains("PLUGINS_SERVER_UDS") && msg.contains("absolute"),
        "{msg}"
    );

    let yaml = ServerSettingsLayer {
        uds: Some(f.root.join("no-such-dir/p.sock")),
        ..Default::default()
    };
    let msg = err_text(resolve_server_settings(Some(&yaml), &env(&[])));
    assert!(
        msg.contains("`server_settings.uds`") && msg.contains("does not exist"),
        "{msg}"
    );

    // Longer than the kernel's `sun_path`: refused before binding, naming the variable.
    let long = format!("/{}", "s".repeat(plugwire_framework::MAX_UNIX_SOCKET_PATH));
    let msg = err_text(resolve_server_settings(
        None,
        &env(&[(vars::PLUGINS_SERVER_UDS, &long)]),
    ));
    assert!(
        msg.contains("PLUGINS_SERVER_UDS") && msg.contains("at most 107 bytes"),
        "{msg}"
    );

    let sock = f.root.join("p.sock");
    let st = resolve_server_settings(None, &env(&[(vars::PLUGINS_SERVER_UDS, &s(&sock))])).unwrap();
    assert_eq!(st.uds, Some(sock.clone()));

    // UDS + TLS: refused, naming both and saying why.
    let yaml = ServerSettingsLayer {
        tls: Some(tls_layer(&f)),
        ..Default::default()
    };
    let msg = err_text(resolve_server_settings(
        Some(&yaml),
        &env(&[(vars::PLUGINS_SERVER_UDS, &s(&sock))]),
    ));
    assert!(
        msg.contains("Unix domain socket")
            && msg.contains("PLUGINS_SERVER_UDS")
            && msg.contains("server_settings.tls"),
        "{msg}"
    );

    // ... unless TLS is switched off by env.
    let e = env(&[
        (vars::PLUGINS_SERVER_UDS, &s(&sock)),
        (vars::PLUGINS_SERVER_SSL_ENABLED, "false"),
    ]);
    let st = resolve_server_settings(Some(&yaml), &e).unwrap();
    assert!(st.tls.is_none() && st.uds.is_some());
}

#[test]
fn password_from_env_overrides_yaml() {
    let f = files();
    let yaml = ServerSettingsLayer {
        tls: Some(ServerTlsLayer {
            keyfile_password: Some("yaml-pw".into()),
            ..tls_layer(&f)
        }),
        ..Default::default()
    };
    let tls = resolve_server_settings(Some(&yaml), &env(&[]))
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(tls.keyfile_password.as_deref(), Some("yaml-pw"));
    let tls = resolve_server_settings(
        Some(&yaml),
        &env(&[(vars::PLUGINS_SERVER_SSL_KEYFILE_PASSWORD, "env-pw")]),
    )
    .unwrap()
    .tls
    .unwrap();
    assert_eq!(tls.keyfile_password.as_deref(), Some("env-pw"));
    assert_eq!(
        tls.origins.keyfile_password,
        Origin::Env(vars::PLUGINS_SERVER_SSL_KEYFILE_PASSWORD)
    );
}

/// `docs/decisions.md` #1 as one table: each row is YAML + env → (host, port, TLS on?,
/// ssl_cert_reqs) or an error that must mention every listed word.
#[test]
fn precedence_table() {
    let f = files();
    let (cert, key, ca) = (s(&f.cert), s(&f.key), s(&f.ca));
    let full_tls = Some(tls_layer(&f));
    type Want = Result<(&'static str, u16, bool, Option<u8>), Vec<&'static str>>;
    type Row<'a> = (
        &'a str,
        Option<ServerSettingsLayer>,
        Vec<(&'a str, &'a str)>,
        Want,
    );
    let rows: Vec<Row> = vec![
        (
            "defaults",
            None,
            vec![],
            Ok(("127.0.0.1", 8000, false, None)),
        ),
        (
            "yaml only",
            Some(ServerSettingsLayer {
                host: Some("0.0.0.0".into()),
                port: Some(9000),
                ..Default::default()
            }),
            vec![],
            Ok(("0.0.0.0", 9000, false, None)),
        ),
        (
            "env only",
            None,
            vec![
                (vars::PLUGINS_SERVER_HOST, "::1"),
                (vars::PLUGINS_SERVER_PORT, "1"),
            ],
            Ok(("::1", 1, false, None)),
        ),
        (
            "env beats yaml, per field",
            Some(ServerSettingsLayer {
                host: Some("0.0.0.0".into()),
                port: Some(9000),
                ..Default::default()
            }),
            vec![(vars::PLUGINS_SERVER_PORT, "9001")],
            Ok(("0.0.0.0", 9001, false, None)),
        ),
        (
            "empty env = unset",
            Some(ServerSettingsLayer {
                port: Some(9000),
                ..Default::default()
            }),
            vec![(vars::PLUGINS_SERVER_PORT, "")],
            Ok(("127.0.0.1", 9000, false, None)),
        ),
        (
            "yaml tls, enabled unset",
            Some(ServerSettingsLayer {
                tls: full_tls.clone(),
                ..Default::default()
            }),
            vec![],
            Ok(("127.0.0.1", 8000, true, Some(2))),
        ),
        (
            "yaml tls, enabled=false",
            Some(ServerSettingsLayer {
                tls: full_tls.clone(),
                ..Default::default()
            }),
            vec![(vars::PLUGINS_SERVER_SSL_ENABLED, "FALSE")],
            Ok(("127.0.0.1", 8000, false, None)),
        ),
        (
            "yaml tls, SSL var overrides field",
            Some(ServerSettingsLayer {
                tls: full_tls.clone(),
                ..Default::default()
            }),
            vec![(vars::PLUGINS_SERVER_SSL_CERT_REQS, "0")],
            Ok(("127.0.0.1", 8000, true, Some(0))),
        ),
        (
            "enabled=true, files from env",
            None,
            vec![
                (vars::PLUGINS_SERVER_SSL_ENABLED, "On"),
                (vars::PLUGINS_SERVER_SSL_CERTFILE, &cert),
                (vars::PLUGINS_SERVER_SSL_KEYFILE, &key),
                (vars::PLUGINS_SERVER_SSL_CA_CERTS, &ca),
            ],
            Ok(("127.0.0.1", 8000, true, Some(2))),
        ),
        (
            "enabled=true, nothing else",
            None,
            vec![(vars::PLUGINS_SERVER_SSL_ENABLED, "1")],
            Err(vec![
                "server_settings.tls.certfile",
                "PLUGINS_SERVER_SSL_CERTFILE",
            ]),
        ),
        (
            "SSL var while TLS off",
            None,
            vec![(vars::PLUGINS_SERVER_SSL_CA_CERTS, &ca)],
            Err(vec!["PLUGINS_SERVER_SSL_CA_CERTS", "not enabled"]),
        ),
        (
            "bad bool",
            None,
            vec![(vars::PLUGINS_SERVER_SSL_ENABLED, "y")],
            Err(vec!["PLUGINS_SERVER_SSL_ENABLED", "\"y\""]),
        ),
        (
            "bad port env",
            None,
            vec![(vars::PLUGINS_SERVER_PORT, "http")],
            Err(vec!["PLUGINS_SERVER_PORT"]),
        ),
        (
            "bad port yaml",
            Some(ServerSettingsLayer {
                port: Some(100_000),
                ..Default::default()
            }),
            vec![],
            Err(vec!["server_settings.port"]),
        ),
        (
            "bad cert_reqs env",
            Some(ServerSettingsLayer {
                tls: full_tls.clone(),
                ..Default::default()
            }),
            vec![(vars::PLUGINS_SERVER_SSL_CERT_REQS, "CERT_REQUIRED")],
            Err(vec!["PLUGINS_SERVER_SSL_CERT_REQS"]),
        ),
        (
            "uds + tls",
            Some(ServerSettingsLayer {
                uds: Some(f.root.join("s.sock")),
                tls: full_tls.clone(),
                ..Default::default()
            }),
            vec![],
            Err(vec!["Unix domain socket", "server_settings.uds"]),
        ),
    ];
    for (what, yaml, pairs, want) in rows {
        let got = resolve_server_settings(yaml.as_ref(), &env(&pairs));
        match (got, want) {
            (Ok(st), Ok((host, port, tls, reqs))) => {
                assert_eq!(
                    (st.host.as_str(), st.port, st.tls.is_some()),
                    (host, port, tls),
                    "{what}"
                );
                assert_eq!(st.tls.map(|t| t.client_auth.as_int()), reqs, "{what}");
            }
            (Err(e), Err(words)) => {
                let msg = e.to_string();
                for w in words {
                    assert!(msg.contains(w), "{what}: {w:?} not in {msg}");
                }
            }
            (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }
}
