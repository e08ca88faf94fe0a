//! Creating the tree through the library: files, modes, profiles parsed back with x509-parser,
//! OpenSSL's verdict, idempotency, --force, and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use plugwire_certs::{
    issue, issue_all, CertsError, Identity, IdentityPaths, KeyType, Layout, Options, Outcome,
    Request,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Version;

fn der(path: &Path) -> Vec<u8> {
    let pem = fs::read(path).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    assert_eq!(block.label, "CERTIFICATE", "{}", path.display());
    block.contents
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` with its bytes, to compare runs.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::files_under(dir)
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            (name, fs::read(&path).unwrap())
        })
        .collect()
}

fn subject_parts(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject()
        .iter_attributes()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject_alternative_name()
        .unwrap()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .map(|name| match name {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(b) => {
                        let ip: IpAddr = match b.len() {
                            4 => <[u8; 4]>::try_from(*b).unwrap().into(),
                            _ => <[u8; 16]>::try_from(*b).unwrap().into(),
                        };
                        format!("IP:{ip}")
                    }
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts files, modes, subjects, extensions, SANs and signatures of a fresh tree.
fn assert_tree(dir: &Path, plugins: &[&str], key_type: KeyType, extra_sans: &[&str]) {
    let layout = Layout::new(dir);
    let rsa = key_type == KeyType::Rsa4096;
    let gateway = layout.gateway();
    let ca_bytes = assert_ca_and_gateway_files(&layout, &gateway);
    let ca_der = der(&layout.ca_cert());
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    assert_ca_profile(&ca);

    let mut serials = vec![ca.raw_serial().to_vec()];
    let mut leaves = vec![("gateway".to_string(), gateway.clone())];
    leaves.extend(plugins.iter().map(|p| (p.to_string(), layout.plugin(p))));
    for (name, paths) in &leaves {
        let leaf = Leaf {
            name,
            paths,
            rsa,
            extra_sans,
        };
        serials.push(assert_leaf(&leaf, &ca, &ca_bytes));
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), leaves.len() + 1, "serials are unique");
    assert!(!layout.ca_dir().join("ca.srl").exists());
}

/// Files and modes of the CA and the gateway (its CA copy and bundle); returns the CA
/// certificate's bytes.
fn assert_ca_and_gateway_files(layout: &Layout, gateway: &IdentityPaths) -> Vec<u8> {
    assert_eq!(mode(&layout.ca_key()), 0o600);
    assert_eq!(mode(&layout.ca_cert()), 0o644);
    assert_eq!(mode(&gateway.key), 0o600);
    assert_eq!(mode(&gateway.cert), 0o644);
    assert_eq!(mode(gateway.ca_copy.as_ref().unwrap()), 0o644);
    assert_eq!(mode(gateway.bundle.as_ref().unwrap()), 0o600);
    let ca_bytes = fs::read(layout.ca_cert()).unwrap();
    assert_eq!(
        fs::read(gateway.ca_copy.as_ref().unwrap()).unwrap(),
        ca_bytes
    );
    let bundle = fs::read_to_string(gateway.bundle.as_ref().unwrap()).unwrap();
    assert_eq!(
        bundle,
        fs::read_to_string(&gateway.cert).unwrap() + &fs::read_to_string(&gateway.key).unwrap()
    );
    for key in [layout.ca_key(), gateway.key.clone()] {
        let text = fs::read_to_string(&key).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "PKCS#8: {}",
            key.display()
        );
    }
    ca_bytes
}

/// The CA certificate's profile: self-signed v3 CA, key usages, serial size, lifetime.
fn assert_ca_profile(ca: &X509Certificate<'_>) {
    assert_eq!(ca.version(), X509Version::V3);
    assert_eq!(
        subject_parts(ca),
        ["MCP-Gateway-CA", "MCPGateway", "Plugins"]
    );
    assert_eq!(ca.subject().as_raw(), ca.issuer().as_raw());
    let bc = ca.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    let ku = ca.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
    assert!(ca.extended_key_usage().unwrap().is_none());
    ca.verify_signature(None).unwrap();
    assert_eq!(ca.raw_serial().len(), 16, "16-byte serial");
    let ca_days =
        (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86400;
    assert_eq!(ca_days, 825);
}

/// One leaf of the tree to check: its name (`gateway` or a plugin), files and expectations.
struct Leaf<'a> {
    name: &'a str,
    paths: &'a IdentityPaths,
    rsa: bool,
    extra_sans: &'a [&'a str],
}

/// A leaf's files, issuer, signature, usages, subject and SANs; returns its serial.
fn assert_leaf(leaf: &Leaf<'_>, ca: &X509Certificate<'_>, ca_bytes: &[u8]) -> Vec<u8> {
    let Leaf {
        name,
        paths,
        rsa,
        extra_sans,
    } = *leaf;
    assert_eq!(mode(&paths.key), 0o600, "{name}");
    assert_eq!(mode(&paths.cert), 0o644, "{name}");
    assert_eq!(
        fs::read(paths.ca_copy.as_ref().unwrap()).unwrap(),
        ca_bytes,
        "{name}"
    );
    let leaf_der = der(&paths.cert);
    let (_, cert) = X509Certificate::from_der(&leaf_der).unwrap();
    assert_eq!(cert.version(), X509Version::V3, "{name}");
    assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
    cert.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(cert.raw_serial().len(), 16);
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert!(!bc.ca);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    assert_eq!(
        ku.value.key_encipherment(),
        rsa,
        "keyEncipherment only for RSA"
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    let spki_alg = cert.public_key().algorithm.algorithm.to_id_string();
    assert_eq!(
        spki_alg,
        if rsa {
            "1.2.840.113549.1.1.1"
        } else {
            "1.2.840.10045.2.1"
        }
    );
    if name == "gateway" {
        assert!(eku.client_auth && !eku.server_auth);
        assert_eq!(
            subject_parts(&cert),
            ["mcp-gateway-client", "MCPGateway", "Gateway"]
        );
        assert!(sans(&cert).is_empty());
    } else {
        assert!(eku.server_auth && !eku.client_auth);
        assert_eq!(
            subject_parts(&cert),
            [
                format!("mcp-plugin-{name}").as_str(),
                "MCPGateway",
                "Plugins"
            ]
        );
        let mut want = vec![
            format!("DNS:{name}"),
            format!("DNS:mcp-plugin-{name}"),
            "DNS:localhost".into(),
        ];
        want.extend(extra_sans.iter().map(|s| s.to_string()));
        assert_eq!(sans(&cert), want);
    }
    cert.raw_serial().to_vec()
}

/// OpenSSL (on the machine) accepts the leaves, strictly and for their purpose.
fn assert_openssl_verifies(dir: &Path, plugins: &[&str]) {
    openssl_verify(dir, plugins, true)
}

/// `strict`: `-x509_strict`, which needs keyUsage on the CA (a Makefile CA has none).
fn openssl_verify(dir: &Path, plugins: &[&str], strict: bool) {
    let layout = Layout::new(dir);
    let mut targets = Vec::new();
    if layout.gateway().cert.exists() {
        targets.push((layout.gateway().cert, "sslclient"));
    }
    targets.extend(plugins.iter().map(|p| (layout.plugin(p).cert, "sslserver")));
    for (cert, purpose) in targets {
        let mut cmd = Command::new("openssl");
        cmd.arg("verify");
        if strict {
            cmd.arg("-x509_strict");
        }
        let out = cmd
            .args(["-purpose", purpose, "-CAfile"])
            .arg(layout.ca_cert())
            .arg(&cert)
            .output()
            .expect("openssl is installed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(": OK"),
            "{}: {stdout} {}",
            cert.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ecdsa_tree_has_the_right_files_modes_and_profiles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs/mcp");
    let options = Options::ecdsa().with_sans(&["IP:127.0.0.1", "DNS:svc.ns.svc"]);
    let summary = issue_all(&dir, &["alpha", "Beta_2.x"], &options).unwrap();
    assert_eq!(summary.outcome(&Identity::Ca), Some(Outcome::Created));
    assert_eq!(
        summary.outcome(&Identity::Plugin("alpha".into())),
        Some(Outcome::Created)
    );
    assert_tree(
        &dir,
        &["alpha", "Beta_2.x"],
        KeyType::EcdsaP256,
        &["IP:127.0.0.1", "DNS:svc.ns.svc"],
    );
    assert_openssl_verifies(&dir, &["alpha", "Beta_2.x"]);
    // Nothing but the expected files (no temporaries, no ca.srl, no CSRs).
    let files: Vec<String> = snapshot(&dir).into_keys().collect();
    assert_eq!(files.len(), 2 + 4 + 3 * 2, "{files:?}");
}

/// The one test of the RSA-4096 path (slow key generation).
#[test]
fn rsa4096_tree_has_the_right_files_modes_and_profiles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mcp");
    let options = Options::default();
    assert_eq!(options.key_type, KeyType::Rsa4096);
    issue_all(&dir, &["p"], &options).unwrap();
    assert_tree(&dir, &["p"], KeyType::Rsa4096, &[]);
    assert_openssl_verifies(&dir, &["p"]);
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(Layout::new(&dir).ca_key())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("4096 bit"));
}

#[test]
fn second_run_changes_nothing_and_force_replaces() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["a", "b"], &Options::ecdsa()).unwrap();
    let first = snapshot(dir);
    let summary = issue_all(dir, &["a", "b"], &Options::ecdsa()).unwrap();
    assert!(summary
        .outcomes
        .iter()
        .all(|(_, o)| *o == Outcome::Existing));
    assert_eq!(snapshot(dir), first, "a second run changes no byte");

    // Replacing one plugin leaves the rest alone.
    let force = Options {
        force: true,
        ..Options::ecdsa()
    };
    issue(dir, &Request::plugin("a"), &force, &()).unwrap();
    let after = snapshot(dir);
    assert_ne!(after["plugins/a/server.key"], first["plugins/a/server.key"]);
    assert_ne!(after["plugins/a/server.crt"], first["plugins/a/server.crt"]);
    for same in ["ca/ca.key", "gateway/client.crt", "plugins/b/server.crt"] {
        assert_eq!(after[same], first[same], "{same}");
    }

    // `all --force` replaces everything, and the result is consistent again.
    let summary = issue_all(dir, &["a", "b"], &force).unwrap();
    assert!(summary
        .outcomes
        .iter()
        .all(|(_, o)| *o == Outcome::Replaced));
    let last = snapshot(dir);
    for (file, bytes) in &first {
        assert_ne!(&last[file], bytes, "{file} replaced");
    }
    assert_tree(dir, &["a", "b"], KeyType::EcdsaP256, &[]);
}

#[test]
fn leaves_are_issued_by_an_existing_ca_and_missing_derived_files_are_added() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue(dir, &Request::ca(), &Options::ecdsa(), &()).unwrap();
    let ca = fs::read(Layout::new(dir).ca_cert()).unwrap();
    // The gateway subcommand reuses the CA (here: an RSA CA could sign ECDSA leaves too).
    let summary = issue(dir, &Request::gateway(), &Options::ecdsa(), &()).unwrap();
    assert_eq!(summary.outcome(&Identity::Ca), Some(Outcome::Existing));
    assert_eq!(fs::read(Layout::new(dir).ca_cert()).unwrap(), ca);
    let gateway = Layout::new(dir).gateway();
    fs::remove_file(gateway.bundle.as_ref().unwrap()).unwrap();
    fs::remove_file(gateway.ca_copy.as_ref().unwrap()).unwrap();
    let crt = fs::read(&gateway.cert).unwrap();
    issue(dir, &Request::gateway(), &Options::ecdsa(), &()).unwrap();
    assert_eq!(
        fs::read(&gateway.cert).unwrap(),
        crt,
        "existing cert untouched"
    );
    assert_eq!(fs::read(gateway.ca_copy.as_ref().unwrap()).unwrap(), ca);
    assert_eq!(mode(gateway.bundle.as_ref().unwrap()), 0o600);
}

#[test]
fn a_leaf_request_creates_the_missing_ca_first() {
    let tmp = tempfile::tempdir().unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let progress = |e: &plugwire_certs::Event<'_>| events.lock().unwrap().push(format!("{e:?}"));
    let summary = issue(
        tmp.path(),
        &Request::plugin("x"),
        &Options::ecdsa(),
        &progress,
    )
    .unwrap();
    assert_eq!(summary.outcome(&Identity::Ca), Some(Outcome::Created));
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.starts_with("CaMissing")));
    assert_openssl_verifies(tmp.path(), &["x"]);
}

#[test]
fn bad_plugin_names_are_refused_before_anything_is_written() {
    for name in [
        "a b",
        "../escape",
        "a/b",
        "$HOME",
        "..",
        ".hidden",
        "",
        "a..b",
        "x.",
        "-x",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let err = issue_all(&dir, &["good", name], &Options::ecdsa()).unwrap_err();
        assert!(
            matches!(err, CertsError::InvalidPluginName { .. }),
            "{name}: {err}"
        );
        assert!(!dir.exists(), "{name}: nothing may be written");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_ca_key_that_does_not_match_the_ca_cert_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    issue(&one, &Request::ca(), &Options::ecdsa(), &()).unwrap();
    issue(&two, &Request::ca(), &Options::ecdsa(), &()).unwrap();
    fs::copy(Layout::new(&two).ca_key(), Layout::new(&one).ca_key()).unwrap();
    let err = issue(&one, &Request::plugin("p"), &Options::ecdsa(), &()).unwrap_err();
    assert!(matches!(err, CertsError::CaKeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("ca.key"), "{err}");
    assert!(!Layout::new(&one).plugins_dir().exists());
}

#[test]
fn an_incomplete_identity_is_reported_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["p"], &Options::ecdsa()).unwrap();
    let p = Layout::new(dir).plugin("p");
    fs::remove_file(&p.cert).unwrap();
    let key = fs::read(&p.key).unwrap();
    let err = issue_all(dir, &["p"], &Options::ecdsa()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("server.crt is missing") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(fs::read(&p.key).unwrap(), key);
    // Missing CA key: also an error, never a silent new CA under existing leaves.
    fs::remove_file(Layout::new(dir).ca_key()).unwrap();
    let err = issue(dir, &Request::gateway(), &Options::ecdsa(), &()).unwrap_err();
    assert!(err.to_string().contains("ca.key is missing"), "{err}");
}

#[test]
fn an_unwritable_directory_is_a_clear_error_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    fs::write(&blocker, b"not a directory").unwrap();
    let err = issue_all(blocker.join("certs"), &["p"], &Options::ecdsa()).unwrap_err();
    assert!(matches!(err, CertsError::NotWritable { .. }), "{err}");
    assert!(err.to_string().contains("file/certs"), "{err}");

    // The plugin directory cannot be created: refused before the missing CA is created, so
    // nothing at all is written.
    let dir = tmp.path().join("tree");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("plugins"), b"blocks plugins/").unwrap();
    let err = issue(&dir, &Request::plugin("p"), &Options::ecdsa(), &()).unwrap_err();
    assert!(err.to_string().contains("plugins"), "{err}");
    let files: Vec<String> = snapshot(&dir).into_keys().collect();
    assert_eq!(files, ["plugins"]);
    assert!(!dir.join("ca").exists());
}

#[test]
fn a_replaced_ca_warns_about_leaves_it_did_not_issue() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["p"], &Options::ecdsa()).unwrap();
    let warnings = std::sync::Mutex::new(Vec::new());
    let progress = |e: &plugwire_certs::Event<'_>| {
        if let plugwire_certs::Event::Warning { message } = e {
            warnings.lock().unwrap().push(message.to_string());
        }
    };
    let force = Options {
        force: true,
        ..Options::ecdsa()
    };
    issue(tmp.path(), &Request::ca(), &force, &progress).unwrap();
    let warnings = warnings.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("client.crt") && warnings[0].contains("server.crt"),
        "{warnings:?}"
    );
}

#[test]
fn invalid_days_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = issue_all(
        tmp.path(),
        &["p"],
        &Options {
            days: 0,
            ..Options::ecdsa()
        },
    )
    .unwrap_err();
    assert!(matches!(err, CertsError::InvalidDays { days: 0 }));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_ca_made_by_openssl_like_the_makefile_is_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::new(tmp.path());
    fs::create_dir_all(layout.ca_dir()).unwrap();
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(layout.ca_key())
        .arg("-out")
        .arg(layout.ca_cert())
        .args([
            "-days",
            "30",
            "-subj",
            "/CN=MCP-Gateway-CA/O=MCPGateway/OU=Plugins",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = fs::read(layout.ca_cert()).unwrap();
    let warnings = std::sync::Mutex::new(Vec::new());
    let progress = |e: &plugwire_certs::Event<'_>| {
        if let plugwire_certs::Event::Warning { message } = e {
            warnings.lock().unwrap().push(message.to_string());
        }
    };
    let summary = issue(
        tmp.path(),
        &Request::all(&["p"]),
        &Options::ecdsa(),
        &progress,
    )
    .unwrap();
    assert_eq!(summary.outcome(&Identity::Ca), Some(Outcome::Existing));
    assert_eq!(
        fs::read(layout.ca_cert()).unwrap(),
        ca,
        "the CA is reused, not replaced"
    );
    openssl_verify(tmp.path(), &["p"], false);
    let report = plugwire_certs::check(tmp.path(), &Default::default());
    assert!(
        report.certificates[0].notes[0].contains("no keyUsage"),
        "{report:?}"
    );
    // The 30-day CA ends before the 825-day leaves: the user is told.
    let warnings = warnings.lock().unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("expires on")),
        "{warnings:?}"
    );
}

#[test]
fn independent_keys_are_generated_in_one_parallel_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let progress = |e: &plugwire_certs::Event<'_>| events.lock().unwrap().push(format!("{e:?}"));
    issue(
        tmp.path(),
        &Request::all(&["a", "b"]),
        &Options::ecdsa(),
        &progress,
    )
    .unwrap();
    let events = events.lock().unwrap();
    let started: Vec<_> = events
        .iter()
        .filter(|e| e.starts_with("KeygenStarted"))
        .collect();
    assert_eq!(started.len(), 1, "{events:?}");
    assert!(started[0].contains("count: 4"), "{started:?}");
    assert_eq!(
        events.iter().filter(|e| e.starts_with("KeyReady")).count(),
        4
    );
    // Keys first, then the writes.
    let last_key = events
        .iter()
        .rposition(|e| e.starts_with("KeyReady"))
        .unwrap();
    let first_write = events
        .iter()
        .position(|e| e.starts_with("Written"))
        .unwrap();
    assert!(last_key < first_write);
}
