//! The server certificate's validity period, checked at start and at each reload.
//!
//! An expired or not-yet-valid server certificate makes every client handshake fail while the
//! server looks healthy, so plugwire says so: a WARN naming the file and the date, a
//! [`CertificateStatus`] that `/health` can report, and `require_valid_certificate`
//! (`PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT`) to refuse such a certificate instead
//! (docs/decisions.md #30).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;

use crate::certinfo::CertInfo;
use crate::error::{Origin, TlsError};
use crate::pem::load_certificates;
use crate::server_tls::ServerTlsSettings;

/// The validity of the server certificate in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateStatus {
    /// The certificate file.
    pub file: PathBuf,
    /// Start of validity, readable (`Jan  1 00:00:00 2026 +00:00`).
    pub not_before: String,
    /// End of validity, readable.
    pub not_after: String,
    /// Whether "now" is inside the validity period.
    pub valid: bool,
    /// Whether "now" is after the end of the validity period.
    pub not_after_passed: bool,
}

impl CertificateStatus {
    /// `"expired on DATE"`, `"is not valid before DATE"`, or `None` when valid.
    pub fn problem(&self) -> Option<String> {
        if self.valid {
            None
        } else if self.not_after_passed {
            Some(format!("expired on {}", self.not_after))
        } else {
            Some(format!("is not valid before {}", self.not_before))
        }
    }
}

/// Reads the leaf of `settings.certfile` and compares its validity with `now`. Start-up and
/// reload do not call this (they have the loaded chain, see [`status_of`]); it is for callers
/// that only hold settings.
pub fn certificate_status(
    settings: &ServerTlsSettings,
    now: SystemTime,
) -> Result<CertificateStatus, TlsError> {
    let o = &settings.origins;
    let certs = load_certificates("certificate file", &settings.certfile, &o.certfile)?;
    status_of(&certs, &settings.certfile, &o.certfile, now)
}

/// The validity of the leaf of a loaded `chain` (read from `file`) at `now`.
pub fn status_of(
    chain: &[CertificateDer<'_>],
    file: &Path,
    origin: &Origin,
    now: SystemTime,
) -> Result<CertificateStatus, TlsError> {
    let info = chain
        .first()
        .and_then(CertInfo::parse)
        .ok_or_else(|| TlsError::NoCertificates {
            what: "certificate file",
            path: file.to_path_buf(),
            origin: origin.clone(),
            detail: "; its first certificate is not a parseable X.509 certificate".to_string(),
        })?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(CertificateStatus {
        file: file.to_path_buf(),
        valid: info.not_before_unix <= now && now <= info.not_after_unix,
        not_after_passed: now > info.not_after_unix,
        not_before: info.not_before,
        not_after: info.not_after,
    })
}

/// Checks the certificate in `settings.certfile` now (reads it; see [`check_chain`]).
pub fn check_certificate(settings: &ServerTlsSettings) -> Result<CertificateStatus, TlsError> {
    let o = &settings.origins;
    let certs = load_certificates("certificate file", &settings.certfile, &o.certfile)?;
    check_chain(settings, &certs)
}

/// Checks the loaded `chain` of `settings.certfile` now: WARN when it is outside its validity
/// period, an error instead when `require_valid_certificate` is on.
pub fn check_chain(
    settings: &ServerTlsSettings,
    chain: &[CertificateDer<'_>],
) -> Result<CertificateStatus, TlsError> {
    let status = status_of(
        chain,
        &settings.certfile,
        &settings.origins.certfile,
        SystemTime::now(),
    )?;
    if let Some(problem) = status.problem() {
        if settings.require_valid_certificate {
            return Err(TlsError::CertificateNotValid {
                path: settings.certfile.clone(),
                origin: settings.origins.certfile.clone(),
                status: problem,
                refuse: settings.names.key("require_valid_certificate"),
            });
        }
        tracing::warn!(
            certfile = %status.file.display(),
            not_before = %status.not_before,
            not_after = %status.not_after,
            "the server certificate {} {problem}: every client handshake will fail until it is renewed (set {} to refuse to start instead)",
            status.file.display(),
            settings.names.key("require_valid_certificate"),
        );
    }
    Ok(status)
}
