//! Certificate revocation lists (`ca_crl`, both sides): read (PEM, several blocks allowed, or
//! one DER CRL), and checked against the CA bundle before they are handed to rustls' verifier.
//!
//! webpki would accept a CRL from a foreign issuer and simply never find it authoritative, so a
//! CRL from the wrong CA would leave revoked certificates working (or, with unknown status
//! refused, refuse everyone). Checking here that a CA of the bundle issued and signed each CRL
//! turns that into a start-up (or reload) error naming the file and the setting.
//!
//! Revocation is checked for the end-entity certificate only: `plugwire certs revoke` revokes
//! leaves, and a chain through an intermediate would otherwise need the root's CRL for the
//! intermediate as well. A certificate whose issuer has no CRL in the file is refused
//! (webpki's "unknown revocation status"), so a CRL file must cover every CA of the bundle that
//! issues peer certificates. An expired CRL (past its nextUpdate) still applies, with a warning.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{Origin, TlsError};
use crate::pem::load_certificates;

/// Reads the CRLs of `path` and checks each was issued and signed by a CA of `ca_bundle`.
pub fn load_crls(
    path: &Path,
    origin: &Origin,
    ca_bundle: (&Path, &Origin),
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|err| TlsError::FileUnreadable {
        what: "CRL file",
        path: path.to_path_buf(),
        origin: origin.clone(),
        err,
    })?;
    let cas = load_certificates("CA bundle", ca_bundle.0, ca_bundle.1)?;
    parse_crls(bytes, path, origin, &cas, ca_bundle.0)
}

/// The CRLs in `bytes` (read from `path`), each checked to be issued and signed by one of
/// `cas` (the CA bundle read from `bundle`). No file is read here.
pub fn parse_crls(
    bytes: Vec<u8>,
    path: &Path,
    origin: &Origin,
    cas: &[CertificateDer<'_>],
    bundle: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::InvalidCrl {
        path: path.to_path_buf(),
        origin: origin.clone(),
        reason,
    };
    let crls: Vec<CertificateRevocationListDer<'static>> = if bytes.starts_with(b"0") {
        // DER: a SEQUENCE (0x30, ASCII '0') as the first byte.
        vec![CertificateRevocationListDer::from(bytes)]
    } else {
        let list = CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("the PEM is damaged: {e}")))?;
        if list.is_empty() {
            return Err(bad(
                "it holds no CRL (expected -----BEGIN X509 CRL----- or a DER CRL)".into(),
            ));
        }
        list
    };
    for der in &crls {
        check_one(der, cas, bundle).map_err(&bad)?;
    }
    Ok(crls)
}

/// One CRL: parses, names a CA of the bundle as issuer, carries that CA's signature.
fn check_one(
    der: &CertificateRevocationListDer<'_>,
    cas: &[CertificateDer<'_>],
    bundle: &Path,
) -> Result<(), String> {
    let (_, crl) = CertificateRevocationList::from_der(der.as_ref())
        .map_err(|e| format!("it is not a valid X.509 CRL ({e})"))?;
    let issuer = crl.issuer();
    let mut named = false;
    for ca in cas {
        let Ok((_, ca)) = X509Certificate::from_der(ca.as_ref()) else {
            continue;
        };
        if ca.subject().as_raw() != issuer.as_raw() {
            continue;
        }
        named = true;
        if crl.verify_signature(ca.public_key()).is_ok() {
            if let Some(next) = crl.next_update() {
                if next.timestamp() < unix_now() {
                    tracing::warn!(issuer = %issuer, next_update = %next, "a CRL is past its nextUpdate: it still applies, but publish a fresh one (plugwire certs revoke rewrites it)");
                }
            }
            return Ok(());
        }
    }
    if named {
        Err(format!(
            "its signature does not verify with the key of \"{issuer}\" in the CA bundle {} (was the CA regenerated? issue the CRL with the CA that is in the bundle)",
            bundle.display()
        ))
    } else {
        Err(format!(
            "it was issued by \"{issuer}\", which is not a CA in the CA bundle {}",
            bundle.display()
        ))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
