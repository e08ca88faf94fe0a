//! Every key form of docs/decisions.md #14 loads (and builds a server config); every bad key gets an error
//! that names the file and the setting to fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{openssl, p, Pki};
use plugwire_tls::{
    build_client_config, load_server_config, ClientCertPolicy, ClientTlsSettings, Origin,
    ServerTlsSettings, TlsError,
};

fn settings(cert: &Path, key: Option<PathBuf>) -> ServerTlsSettings {
    ServerTlsSettings::new(cert, key, None, ClientCertPolicy::None)
}

fn with_password(mut s: ServerTlsSettings, pw: &str) -> ServerTlsSettings {
    s.keyfile_password = Some(pw.to_string());
    s.origins.keyfile_password =
        Origin::Env(plugwire_tls::vars::PLUGINS_SERVER_SSL_KEYFILE_PASSWORD);
    s
}

fn header(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `key` as an encrypted PKCS#8 file `enc.key` in `dir` (openssl's default PBES2 cipher, or
/// what `extra` asks for), protected by `password`.
fn encrypt_pkcs8(dir: &Path, key: &Path, password: &str, extra: &[&str]) -> PathBuf {
    let enc = dir.join("enc.key");
    let passout = format!("pass:{password}");
    let mut args = vec!["pkcs8", "-topk8"];
    args.extend_from_slice(extra);
    args.extend(["-in", p(key), "-out", p(&enc), "-passout", &passout]);
    openssl(&args);
    enc
}

#[test]
fn pkcs8_sec1_and_bundle_load() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.server("srv");
    assert_eq!(header(&key), "-----BEGIN PRIVATE KEY-----");
    load_server_config(&settings(&cert, Some(key.clone()))).unwrap();

    let sec1 = dir.path().join("sec1.key");
    openssl(&["ec", "-in", p(&key), "-out", p(&sec1)]);
    assert_eq!(header(&sec1), "-----BEGIN EC PRIVATE KEY-----");
    load_server_config(&settings(&cert, Some(sec1))).unwrap();

    let bundle = dir.path().join("client.pem");
    let text = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&key).unwrap();
    std::fs::write(&bundle, text).unwrap();
    load_server_config(&settings(&bundle, None)).unwrap();
    // The same bundle as a client identity (the gateway's client.pem).
    let client = ClientTlsSettings {
        certfile: Some(bundle),
        ca_bundle: Some(pki.ca_crt.clone()),
        ..Default::default()
    };
    build_client_config(&client).unwrap();
}

#[test]
fn pkcs1_rsa_loads() {
    // The one RSA test (2048 bits to stay fast): cert-manager and `openssl genrsa` write PKCS#1.
    let dir = tempfile::tempdir().unwrap();
    let (k8, cert, k1) = (
        dir.path().join("k8.key"),
        dir.path().join("rsa.crt"),
        dir.path().join("rsa1.key"),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        p(&k8),
        "-out",
        p(&cert),
        "-subj",
        "/CN=localhost",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ]);
    openssl(&["rsa", "-in", p(&k8), "-traditional", "-out", p(&k1)]);
    assert_eq!(header(&k1), "-----BEGIN RSA PRIVATE KEY-----");
    load_server_config(&settings(&cert, Some(k1))).unwrap();
}

#[test]
fn encrypted_pkcs8_with_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.server("srv");
    let enc = encrypt_pkcs8(dir.path(), &key, "s3cret", &[]);
    assert_eq!(header(&enc), "-----BEGIN ENCRYPTED PRIVATE KEY-----");

    load_server_config(&with_password(settings(&cert, Some(enc.clone())), "s3cret")).unwrap();

    let err = load_server_config(&with_password(settings(&cert, Some(enc.clone())), "wrong"))
        .unwrap_err();
    assert!(matches!(err, TlsError::KeyDecrypt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("wrong password")
            && msg.contains("enc.key")
            && msg.contains("PLUGINS_SERVER_SSL_KEYFILE_PASSWORD"),
        "{msg}"
    );

    let msg = load_server_config(&settings(&cert, Some(enc)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("encrypted")
            && msg.contains("server_settings.tls.keyfile_password")
            && msg.contains("PLUGINS_SERVER_SSL_KEYFILE_PASSWORD"),
        "{msg}"
    );
}

#[test]
fn encrypted_pkcs8_scrypt_too() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.server("srv");
    let enc = encrypt_pkcs8(dir.path(), &key, "pw", &["-scrypt"]);
    load_server_config(&with_password(settings(&cert, Some(enc)), "pw")).unwrap();
}

#[test]
fn legacy_encrypted_pem_says_how_to_convert() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.server("srv");
    let legacy = dir.path().join("legacy.key");
    openssl(&[
        "ec",
        "-in",
        p(&key),
        "-aes256",
        "-passout",
        "pass:pw",
        "-out",
        p(&legacy),
    ]);
    assert!(std::fs::read_to_string(&legacy)
        .unwrap()
        .contains("Proc-Type: 4,ENCRYPTED"));
    let msg = load_server_config(&with_password(settings(&cert, Some(legacy)), "pw"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("openssl pkcs8 -topk8 -in old.key -out new.key") && msg.contains("legacy.key"),
        "{msg}"
    );
}

#[test]
fn key_not_matching_cert() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, _) = pki.server("a");
    let (_, other_key) = pki.server("b");
    let err = load_server_config(&settings(&cert, Some(other_key))).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("a.crt") && msg.contains("b.key") && msg.contains("does not belong"),
        "{msg}"
    );
}

#[test]
fn not_a_key_or_not_a_cert() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.server("a");
    let msg = load_server_config(&settings(&cert, Some(cert.clone())))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("holds no private key") && msg.contains("BEGIN EC PRIVATE KEY"),
        "{msg}"
    );
    let msg = load_server_config(&settings(&key, Some(key.clone())))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("holds no PEM certificate"), "{msg}");
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let msg = load_server_config(&settings(&garbage, Some(key)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("garbage.crt") && msg.contains("damaged"),
        "{msg}"
    );
}

#[test]
fn v1_certificate_still_works_as_our_client_identity() {
    // The Python Makefile's gateway cert is X.509 v1: a Python plugin server accepts it, so our
    // client must be able to present it (only our server refuses v1 client certs).
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.v1_client("gw-v1");
    let client = ClientTlsSettings {
        certfile: Some(cert),
        keyfile: Some(key),
        ca_bundle: Some(pki.ca_crt.clone()),
        ..Default::default()
    };
    build_client_config(&client).unwrap();
}

#[test]
fn client_key_errors_name_client_settings() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "t");
    let (cert, key) = pki.gateway("gw");
    let enc = encrypt_pkcs8(dir.path(), &key, "pw", &[]);
    let client = ClientTlsSettings {
        certfile: Some(cert.clone()),
        keyfile: Some(enc.clone()),
        ca_bundle: Some(pki.ca_crt.clone()),
        yaml_prefix: "plugins[MyFilter].mcp.tls".to_string(),
        ..Default::default()
    };
    let msg = build_client_config(&client).unwrap_err().to_string();
    assert!(
        msg.contains("plugins[MyFilter].mcp.tls.keyfile_password")
            && msg.contains("PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD"),
        "{msg}"
    );
    let ok = ClientTlsSettings {
        keyfile_password: Some("pw".into()),
        ..client
    };
    build_client_config(&ok).unwrap();
}
