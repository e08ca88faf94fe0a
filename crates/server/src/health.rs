//! What `/health` says, on the main port and on the plain health port (port + 1000).
//!
//! Python's runtime answers `{"status":"healthy"}`; plugwire keeps that key and value and adds
//! its own, only where it has something to say:
//!
//! - `runtime_disabled` (main port): plugins that `on_error: disable` took out.
//! - `certificate` (both ports, when TLS is on): the validity of the server certificate in use,
//!   read from the loaded TLS material (no file is read per request) and computed against the
//!   clock at each request, so a certificate that expires while the server runs shows up
//!   without a reload, and a rotation shows up as soon as it is in use:
//!
//! ```json
//! {"status":"healthy","certificate":{"state":"valid","not_before":"2026-01-01T00:00:00Z",
//!  "not_after":"2027-04-05T00:00:00Z","days_left":120}}
//! ```
//!
//! `state` is `valid`, `expired` or `not_yet_valid`; `days_left` is whole days until
//! `not_after` (negative once expired). An operator alerts on `state != "valid"` or on
//! `days_left` below the renewal margin.
//!
//! `status` stays `healthy` and the HTTP status 200 with a bad certificate: probes restart
//! the process on a failing `/health`, and a restart cannot renew a certificate; it would only
//! turn a clear WARN and a clear `/health` into a restart loop. Operators who want the process
//! to stop instead set `PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT=true`
//! (`server_settings.tls.require_valid_certificate`), which refuses such a certificate at
//! start and at each reload.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use plugwire_tls::{CertificateStatus, ReloadableServerConfig};
use serde_json::{json, Map, Value};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::listen::TlsSource;

/// Seconds in a day, for `days_left`.
const DAY: i64 = 86_400;

/// Where `/health` reads the certificate in use from: nothing without TLS (or with a fixed
/// config, which has no files to report on).
#[derive(Debug, Clone, Default)]
pub struct CertificateHealth(Option<Arc<ReloadableServerConfig>>);

impl CertificateHealth {
    /// The certificate behind `tls`, as `/health` reports it.
    pub fn of(tls: Option<&TlsSource>) -> Self {
        match tls {
            Some(TlsSource::Reloadable(r)) => CertificateHealth(Some(Arc::clone(r))),
            _ => CertificateHealth(None),
        }
    }

    /// The `certificate` object of `/health` at `now`; `None` without a certificate.
    pub fn report(&self, now: SystemTime) -> Option<Value> {
        let status = self.0.as_ref()?.certificate()?;
        Some(certificate_json(&status, now))
    }
}

/// The body of `/health`: `{"status":"healthy"}` plus `runtime_disabled` when any plugin was
/// disabled and `certificate` when TLS is on. `None`: the plain Python body is the answer.
pub fn body(disabled: &[String], certificate: &CertificateHealth) -> Option<String> {
    let cert = certificate.report(SystemTime::now());
    if disabled.is_empty() && cert.is_none() {
        return None;
    }
    let mut m = Map::new();
    m.insert("status".into(), Value::from("healthy"));
    if !disabled.is_empty() {
        m.insert("runtime_disabled".into(), json!(disabled));
    }
    if let Some(c) = cert {
        m.insert("certificate".into(), c);
    }
    Some(Value::Object(m).to_string())
}

/// The readable dates of [`CertificateStatus`] as x509-parser writes them
/// (`Jan  1 00:00:00 2026 +00:00`).
const READABLE: &[BorrowedFormatItem<'static>] = format_description!(
    "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year padding:none] [offset_hour sign:mandatory]:[offset_minute]"
);

fn parse_readable(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, READABLE).ok()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The `certificate` object for `status` at `now`. The state is computed from the dates and
/// `now` (a certificate expires while the server runs); if the dates cannot be read back, the
/// state seen at the last load is reported and `days_left` is left out.
pub fn certificate_json(status: &CertificateStatus, now: SystemTime) -> Value {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let dates = parse_readable(&status.not_before).zip(parse_readable(&status.not_after));
    let Some((nb, na)) = dates else {
        let state = match (status.valid, status.not_after_passed) {
            (true, _) => "valid",
            (false, true) => "expired",
            (false, false) => "not_yet_valid",
        };
        return json!({
            "state": state,
            "not_before": status.not_before,
            "not_after": status.not_after,
        });
    };
    let (nb_unix, na_unix) = (nb.unix_timestamp(), na.unix_timestamp());
    let state = if now > na_unix {
        "expired"
    } else if now < nb_unix {
        "not_yet_valid"
    } else {
        "valid"
    };
    json!({
        "state": state,
        "not_before": rfc3339(nb),
        "not_after": rfc3339(na),
        "days_left": (na_unix - now).div_euclid(DAY),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn status(not_before: &str, not_after: &str) -> CertificateStatus {
        CertificateStatus {
            file: PathBuf::from("/c.pem"),
            not_before: not_before.into(),
            not_after: not_after.into(),
            valid: true,
            not_after_passed: false,
        }
    }

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    // 2026-01-01T00:00:00Z and 2026-03-01T00:00:00Z.
    const JAN1: u64 = 1_767_225_600;
    const MAR1: u64 = 1_772_323_200;

    #[test]
    fn state_and_days_follow_the_clock_not_the_load() {
        let s = status("Jan  1 00:00:00 2026 +00:00", "Mar  1 00:00:00 2026 +00:00");
        let v = certificate_json(&s, at(JAN1 + 10 * 86_400 + 5));
        assert_eq!(v["state"], "valid");
        assert_eq!(v["not_before"], "2026-01-01T00:00:00Z");
        assert_eq!(v["not_after"], "2026-03-01T00:00:00Z");
        assert_eq!(v["days_left"], 48);
        // Loaded as valid, expired since: reported expired.
        let v = certificate_json(&s, at(MAR1 + 1));
        assert_eq!(v["state"], "expired");
        assert_eq!(v["days_left"], -1);
        let v = certificate_json(&s, at(JAN1 - 1));
        assert_eq!(v["state"], "not_yet_valid");
    }

    #[test]
    fn unreadable_dates_fall_back_to_the_loaded_state() {
        let mut s = status("?", "?");
        s.valid = false;
        s.not_after_passed = true;
        let v = certificate_json(&s, at(JAN1));
        assert_eq!(v["state"], "expired");
        assert!(v.get("days_left").is_none());
    }

    #[test]
    fn plain_body_without_anything_to_add() {
        assert_eq!(body(&[], &CertificateHealth::default()), None);
        let b = body(&["a".into()], &CertificateHealth::default()).unwrap();
        assert_eq!(b, r#"{"status":"healthy","runtime_disabled":["a"]}"#);
    }
}
