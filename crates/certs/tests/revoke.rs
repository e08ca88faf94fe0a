//! `revoke`: the CRL it writes parses, lists the serial, is signed by the CA, keeps earlier
//! entries, and a gateway certificate can carry a URI SAN (a SPIFFE ID).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use plugwire_certs::{check, issue_all, revoke, CheckOptions, Layout, Options};
use x509_parser::extensions::GeneralName;
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

const SPIFFE: &str = "spiffe://cluster.local/ns/mcp/sa/gateway";

fn der_of(pem: &[u8], label: &str) -> Vec<u8> {
    let (l, der) = pem_decode(pem);
    assert_eq!(l, label);
    der
}

/// Minimal PEM decoding (the first block), so the test reads the file as a user's tool would.
fn pem_decode(pem: &[u8]) -> (String, Vec<u8>) {
    let text = std::str::from_utf8(pem).unwrap();
    let begin = text.lines().find(|l| l.starts_with("-----BEGIN ")).unwrap();
    let label = begin
        .trim_start_matches("-----BEGIN ")
        .trim_end_matches("-----")
        .to_string();
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END "))
        .collect();
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | T.iter().position(|t| *t == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (label, out)
}

fn serial_of(path: &Path) -> BigUint {
    let der = der_of(&fs::read(path).unwrap(), "CERTIFICATE");
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.tbs_certificate.serial.clone()
}

/// The CRL's serials, after checking it is signed by the CA.
fn crl_serials(l: &Layout) -> (Vec<BigUint>, BigUint) {
    let crl_der = der_of(&fs::read(l.ca_crl()).unwrap(), "X509 CRL");
    let (_, crl) = CertificateRevocationList::from_der(&crl_der).unwrap();
    let ca_der = der_of(&fs::read(l.ca_cert()).unwrap(), "CERTIFICATE");
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    crl.verify_signature(ca.public_key())
        .expect("the CRL is signed by the CA");
    assert_eq!(crl.issuer(), ca.subject());
    assert!(crl.next_update().is_some(), "nextUpdate is set");
    let serials = crl
        .iter_revoked_certificates()
        .map(|r| r.serial().clone())
        .collect();
    (serials, crl.crl_number().cloned().unwrap())
}

#[test]
fn revoke_writes_a_signed_crl_and_keeps_earlier_entries() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["p"], &Options::ecdsa()).unwrap();
    let l = Layout::new(tmp.path());
    let gw = serial_of(&l.gateway().cert);
    let p = serial_of(&l.plugin("p").cert);

    let first = revoke(tmp.path(), Some("gateway"), 30).unwrap();
    assert_eq!(first.crl, l.ca_crl());
    assert!(!first.already);
    assert_eq!(first.entries, 1);
    let (serials, n1) = crl_serials(&l);
    assert_eq!(serials, vec![gw.clone()]);

    let second = revoke(tmp.path(), Some("p"), 30).unwrap();
    assert_eq!(second.entries, 2);
    let (serials, n2) = crl_serials(&l);
    assert_eq!(serials, vec![gw.clone(), p.clone()]);
    assert!(n2 > n1, "the CRL number grows: {n1} then {n2}");

    let again = revoke(tmp.path(), Some("gateway"), 30).unwrap();
    assert!(again.already);
    assert_eq!(crl_serials(&l).0, vec![gw, p]);

    let refresh = revoke(tmp.path(), None, 7).unwrap();
    assert_eq!((refresh.entries, refresh.serial), (2, None));

    // `check` reports both as revoked (exit 2), and only them.
    let report = check(
        tmp.path(),
        &CheckOptions {
            warn_days: 30,
            now: None,
        },
    );
    assert_eq!(report.exit_code, 2);
    let revoked: Vec<&str> = report
        .certificates
        .iter()
        .filter(|c| c.problems.iter().any(|p| p.starts_with("revoked")))
        .map(|c| c.role)
        .collect();
    assert_eq!(revoked, ["gateway", "plugin"]);
}

#[test]
fn revoke_refuses_unknown_names_and_a_foreign_crl() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["p"], &Options::ecdsa()).unwrap();
    let err = revoke(tmp.path(), Some("missing"), 30)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing"), "{err}");
    let err = revoke(tmp.path(), Some("../x"), 30)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid plugin name"), "{err}");

    // A CRL of another CA in place of ca.crl is not extended.
    let other = tempfile::tempdir().unwrap();
    issue_all(other.path(), &["q"], &Options::ecdsa()).unwrap();
    revoke(other.path(), Some("q"), 30).unwrap();
    let l = Layout::new(tmp.path());
    fs::copy(Layout::new(other.path()).ca_crl(), l.ca_crl()).unwrap();
    let err = revoke(tmp.path(), Some("p"), 30).unwrap_err().to_string();
    assert!(
        err.contains("ca.crl") && err.contains("not signed by the current CA"),
        "{err}"
    );
}

#[test]
fn gateway_certificate_can_carry_a_uri_san() {
    let tmp = tempfile::tempdir().unwrap();
    let options = Options {
        gateway_sans: vec![format!("URI:{SPIFFE}").parse().unwrap()],
        ..Options::ecdsa()
    };
    issue_all(tmp.path(), &["p"], &options).unwrap();
    let l = Layout::new(tmp.path());
    let der = der_of(&fs::read(l.gateway().cert).unwrap(), "CERTIFICATE");
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(
        san.value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::URI(u) if *u == SPIFFE)),
        "{:?}",
        san.value.general_names
    );
    // Plugins do not get the gateway's SANs.
    let der = der_of(&fs::read(l.plugin("p").cert).unwrap(), "CERTIFICATE");
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(!san
        .value
        .general_names
        .iter()
        .any(|n| matches!(n, GeneralName::URI(_))));
}
