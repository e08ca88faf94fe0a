//! `plugwire certs revoke NAME`: adds the serial number of the gateway's or a plugin's
//! certificate to the CA's revocation list `ca/ca.crl` (PEM, signed by the CA), creating it when
//! missing and keeping every earlier entry. Servers and gateways that set `ca_crl` to this file
//! refuse the certificate from their next reload on (the server re-reads it within 10 s).
//!
//! The CRL's nextUpdate is [`DEFAULT_CRL_DAYS`] after now (`--days`): plugwire applies a CRL
//! past its nextUpdate with a warning, other verifiers may refuse it, so re-run `revoke` (or
//! `revoke --refresh`) before then. Each write increments the CRL number.

use std::path::{Path, PathBuf};

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{CertsError, Result};
use crate::fsio::{self, NewFile, CERT_MODE};
use crate::inspect;
use crate::issue::{load_ca, LoadedCa};
use crate::layout::{Identity, Layout};
use crate::names::validate_plugin_name;

/// Default days until the CRL's nextUpdate.
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The CRL written.
    pub crl: PathBuf,
    /// The certificate revoked (`None` for a refresh only).
    pub cert: Option<PathBuf>,
    /// Its serial number, hex.
    pub serial: Option<String>,
    /// The serial was already on the list (the CRL was still rewritten with fresh dates).
    pub already: bool,
    /// Entries on the list now.
    pub entries: usize,
    /// The new nextUpdate.
    pub next_update: OffsetDateTime,
    /// What was done about files left in the tree by interrupted runs (one sentence each).
    pub swept: Vec<String>,
}

/// The identity `NAME` names: `gateway`, or a plugin.
fn identity(name: &str) -> Result<Identity> {
    if name == "gateway" {
        return Ok(Identity::Gateway);
    }
    validate_plugin_name(name)?;
    Ok(Identity::Plugin(name.to_string()))
}

/// Revokes `name`'s certificate (or, with `None`, only rewrites the CRL with fresh dates).
pub fn revoke(dir: &Path, name: Option<&str>, days: u32) -> Result<Revocation> {
    let layout = Layout::new(dir);
    let ca_paths = layout.paths(&Identity::Ca);
    let ca = load_ca(&ca_paths)?;
    let ca_der =
        inspect::cert_der_from_pem(ca.pem.as_bytes()).map_err(|reason| CertsError::Parse {
            path: ca_paths.cert.clone(),
            reason,
        })?;
    let ca_cert = inspect::parse(&ca_der).map_err(|reason| CertsError::Parse {
        path: ca_paths.cert.clone(),
        reason,
    })?;
    let crl_path = layout.ca_crl();
    let (mut entries, number) = existing_entries(&crl_path, &ca_cert)?;

    let target = match name {
        Some(name) => Some(revocation_target(&layout, &ca_paths.dir, &ca_cert, name)?),
        None => None,
    };

    let now = OffsetDateTime::now_utc();
    let already = match &target {
        Some((_, serial)) if entries.iter().any(|(s, _)| s == serial) => true,
        Some((_, serial)) => {
            entries.push((serial.clone(), now));
            false
        }
        None => false,
    };
    let next_update = now + time::Duration::days(i64::from(days.max(1)));
    let pem = sign_crl(&ca, &entries, &number, now, next_update)?;
    let swept = crate::leftovers::sweep(&layout);
    fsio::write_all_or_nothing(&[NewFile {
        path: crl_path.clone(),
        contents: pem.into_bytes(),
        mode: CERT_MODE,
        no_clobber: false,
    }])?;
    Ok(Revocation {
        crl: crl_path,
        serial: target.as_ref().map(|(_, s)| format!("{s:x}")),
        cert: target.map(|(p, _)| p),
        already,
        entries: entries.len(),
        next_update,
        swept,
    })
}

/// The certificate file and serial of `name`, which the CA must have issued.
fn revocation_target(
    layout: &Layout,
    ca_dir: &Path,
    ca_cert: &X509Certificate<'_>,
    name: &str,
) -> Result<(PathBuf, BigUint)> {
    let paths = layout.paths(&identity(name)?);
    let der = inspect::read_cert_der(&paths.cert)?;
    let cert = inspect::parse(&der).map_err(|reason| CertsError::Parse {
        path: paths.cert.clone(),
        reason,
    })?;
    if !inspect::issued_by(&cert, ca_cert) {
        return Err(CertsError::Parse {
            path: paths.cert.clone(),
            reason: format!(
                "it was not issued by the CA in {}, so that CA's CRL cannot revoke it",
                ca_dir.display()
            ),
        });
    }
    let serial = cert.tbs_certificate.serial.clone();
    Ok((paths.cert, serial))
}

/// The CRL listing `entries` (serial, revocation time), numbered after `number`, signed by
/// the CA, as PEM.
fn sign_crl(
    ca: &LoadedCa,
    entries: &[(BigUint, OffsetDateTime)],
    number: &BigUint,
    now: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<String> {
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update,
        crl_number: SerialNumber::from_slice(&(number + 1u32).to_bytes_be()),
        issuing_distribution_point: None,
        revoked_certs: entries
            .iter()
            .map(|(serial, when)| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial.to_bytes_be()),
                revocation_time: *when,
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(&ca.issuer)
        .map_err(|e| CertsError::Crypto {
            what: "signing the CRL".into(),
            reason: e.to_string(),
        })?;
    crl.pem().map_err(|e| CertsError::Crypto {
        what: "encoding the CRL".into(),
        reason: e.to_string(),
    })
}

/// The serials (with revocation times) and CRL number of the existing CRL, which must be this
/// CA's: a CRL of a replaced CA would carry entries that mean nothing any more.
type Entries = (Vec<(BigUint, OffsetDateTime)>, BigUint);

fn existing_entries(
    path: &Path,
    ca: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<Entries> {
    if !path.exists() {
        return Ok((Vec::new(), BigUint::from(0u32)));
    }
    let bad = |reason: String| CertsError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fsio::read(path)?;
    let der = pem_body(&bytes).ok_or_else(|| {
        bad("not a PEM CRL (-----BEGIN X509 CRL-----); move it away to start a new one".into())
    })?;
    let (_, crl) = CertificateRevocationList::from_der(&der)
        .map_err(|e| bad(format!("not a valid CRL ({e})")))?;
    if crl.issuer().as_raw() != ca.subject().as_raw()
        || crl.verify_signature(ca.public_key()).is_err()
    {
        return Err(bad(
            "it was not signed by the current CA (was the CA replaced?); move it away to start a new CRL".into(),
        ));
    }
    let entries = crl
        .iter_revoked_certificates()
        .map(|r| {
            let when = r.revocation_date.to_datetime();
            (r.serial().clone(), when)
        })
        .collect();
    let number = crl.crl_number().cloned().unwrap_or_default();
    Ok((entries, number))
}

/// The serials listed in `ca/ca.crl` when it is this CA's (empty otherwise), for `check`.
pub(crate) fn revoked_serials(
    layout: &Layout,
    ca: &x509_parser::certificate::X509Certificate<'_>,
) -> Vec<BigUint> {
    existing_entries(&layout.ca_crl(), ca)
        .map(|(entries, _)| entries.into_iter().map(|(s, _)| s).collect())
        .unwrap_or_default()
}

/// The DER of the first `X509 CRL` PEM block.
pub(crate) fn pem_body(bytes: &[u8]) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateRevocationListDer::from_pem_slice(bytes)
        .ok()
        .map(|d| d.as_ref().to_vec())
}
