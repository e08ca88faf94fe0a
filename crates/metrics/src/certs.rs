//! Seconds until `notAfter` of every certificate file the process loaded.
//!
//! Only the expiry instant is stored when a file is loaded; the gauge is computed from the
//! clock at each scrape, so an alert such as `plugwire_certificate_expiry_seconds < 7*86400`
//! fires on time without anything re-reading the file. A file holding several certificates (a
//! chain, a CA bundle) reports the one that expires first: that is the one that breaks
//! handshakes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::labels::CertRole;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CertLabels {
    role: &'static str,
    path: String,
}

/// Why a certificate file's expiry could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExpiryError(pub String);

impl std::fmt::Display for CertExpiryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertExpiryError {}

/// The expiry of each (role, path), and the gauge family computed from it.
#[derive(Default)]
pub(crate) struct CertExpiry {
    not_after: Mutex<BTreeMap<(CertRole, String), i64>>,
    pub(crate) gauge: Family<CertLabels, Gauge>,
}

impl CertExpiry {
    /// Stores `not_after` (Unix seconds) for the file; a reload replaces it.
    pub(crate) fn set(&self, role: CertRole, path: &str, not_after: i64) {
        let mut map = self.not_after.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((role, path.to_string()), not_after);
    }

    /// Sets every gauge from the clock (called before each encoding).
    pub(crate) fn refresh(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let map = self.not_after.lock().unwrap_or_else(|e| e.into_inner());
        for ((role, path), not_after) in map.iter() {
            self.gauge
                .get_or_create(&CertLabels {
                    role: role.as_str(),
                    path: path.clone(),
                })
                .set(not_after.saturating_sub(now));
        }
    }
}

/// The earliest `notAfter` (Unix seconds) among the certificates of a PEM file's contents.
pub fn earliest_not_after_pem(pem: &[u8]) -> Result<i64, CertExpiryError> {
    let mut earliest: Option<i64> = None;
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| CertExpiryError(format!("not PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let t = not_after_der(&block.contents)?;
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    earliest.ok_or_else(|| CertExpiryError("no CERTIFICATE block".into()))
}

/// `notAfter` (Unix seconds) of one DER certificate.
pub fn not_after_der(der: &[u8]) -> Result<i64, CertExpiryError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertExpiryError(format!("not an X.509 certificate: {e}")))?;
    Ok(cert.validity().not_after.timestamp())
}
