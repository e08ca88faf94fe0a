//! The server certificate's validity period: WARN naming the file and the date at start and at
//! reload, a status for `/health`, and the option to refuse instead (files are the point here:
//! the warning must name the file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::{capture_logs, Pki, Validity, SERVER_AUTH};
use plugwire_tls::{
    resolve_server_tls, vars, ClientCertPolicy, ReloadableServerConfig, ServerTlsLayer,
    ServerTlsSettings, MCP_SERVER_TLS,
};

fn server(pki: &Pki, stem: &str, v: Validity) -> ServerTlsSettings {
    let (cert, key) = pki.leaf(stem, "example-plugin", &["localhost"], SERVER_AUTH, v);
    ServerTlsSettings::new(cert, Some(key), None, ClientCertPolicy::None)
}

#[test]
fn valid_certificate_is_reported_valid_without_warning() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let s = server(&pki, "ok", Validity::Now);
    let (r, logs) = capture_logs(|| ReloadableServerConfig::new(s.clone()));
    let status = r.unwrap().certificate().unwrap();
    assert!(status.valid && status.problem().is_none(), "{status:?}");
    assert_eq!(status.file, s.certfile);
    assert!(!logs.contains("WARN"), "{logs}");
}

#[test]
fn expired_and_future_certificates_warn_with_file_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    for (v, word) in [
        (Validity::Expired, "expired on"),
        (Validity::NotYetValid, "not valid before"),
    ] {
        let s = server(&pki, &format!("{v:?}"), v);
        let (r, logs) = capture_logs(|| ReloadableServerConfig::new(s.clone()));
        let status = r
            .expect("a warning, not a refusal, by default")
            .certificate()
            .unwrap();
        assert!(!status.valid, "{status:?}");
        let file = s.certfile.display().to_string();
        assert!(
            logs.contains("WARN") && logs.contains(&file) && logs.contains(word),
            "{logs}"
        );
        let date = if v == Validity::Expired {
            &status.not_after
        } else {
            &status.not_before
        };
        assert!(logs.contains(date.as_str()), "{logs}");
    }
}

#[test]
fn require_valid_certificate_refuses_by_yaml_and_by_variable() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.leaf("old", "p", &["localhost"], SERVER_AUTH, Validity::Expired);
    let yaml = ServerTlsLayer {
        certfile: Some(cert.clone()),
        keyfile: Some(key),
        ssl_cert_reqs: Some(0),
        require_valid_certificate: Some(true),
        ..Default::default()
    };
    let none: HashMap<String, String> = HashMap::new();
    let s = resolve_server_tls(Some(&yaml), &none, &MCP_SERVER_TLS)
        .unwrap()
        .unwrap();
    let err = ReloadableServerConfig::new(s).unwrap_err().to_string();
    assert!(
        err.contains(&cert.display().to_string())
            && err.contains("expired on")
            && err.contains("server_settings.tls.require_valid_certificate"),
        "{err}"
    );

    let off = ServerTlsLayer {
        require_valid_certificate: None,
        ..yaml
    };
    let env: HashMap<String, String> = [(
        vars::PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT.to_string(),
        "yes".to_string(),
    )]
    .into();
    let s = resolve_server_tls(Some(&off), &env, &MCP_SERVER_TLS)
        .unwrap()
        .unwrap();
    let err = ReloadableServerConfig::new(s).unwrap_err().to_string();
    assert!(
        err.contains("PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT"),
        "{err}"
    );
}

#[test]
fn reload_to_an_expired_certificate_warns_and_updates_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let s = server(&pki, "live", Validity::Now);
    let r = ReloadableServerConfig::new(s.clone()).unwrap();
    let mut rx = r.subscribe();
    let (cert, key) = pki.leaf("old", "p", &["localhost"], SERVER_AUTH, Validity::Expired);
    std::fs::copy(&cert, &s.certfile).unwrap();
    std::fs::copy(&key, s.keyfile.as_ref().unwrap()).unwrap();
    let (changed, logs) = capture_logs(|| r.reload_if_changed());
    assert!(changed.unwrap());
    assert!(
        logs.contains("expired on") && logs.contains(&s.certfile.display().to_string()),
        "{logs}"
    );
    assert!(!r.certificate().unwrap().valid);
    assert!(rx.has_changed().unwrap(), "subscribers see the new config");
    assert!(std::sync::Arc::ptr_eq(
        &rx.borrow_and_update(),
        &r.current()
    ));
}
