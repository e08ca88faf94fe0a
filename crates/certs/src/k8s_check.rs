//! `plugwire certs check --k8s-dir`: the same verdicts as `check`, for certificates laid out as
//! Kubernetes mounts cert-manager Secrets: `tls.crt`, `tls.key` and `ca.crt` in one directory
//! (the files are symlinks into `..data/`, which the kubelet swaps atomically on renewal).
//!
//! The directory is either one mounted Secret, or a directory whose subdirectories are mounted
//! Secrets (e.g. `/etc/plugwire/secrets/<secret>/tls.crt`). Each Secret's `tls.crt` must be
//! valid, carry the key usage of its role (clientAuth for the gateway, serverAuth for a plugin),
//! match `tls.key`, and chain to the `ca.crt` beside it; every `ca.crt` is reported too.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use crate::check::{human, rfc3339, CertReport, CheckOptions, CheckReport, Status};
use crate::inspect;

/// File names of a `kubernetes.io/tls` Secret written by cert-manager.
pub const K8S_CERT: &str = "tls.crt";
/// The private key.
pub const K8S_KEY: &str = "tls.key";
/// The issuing CA (filled by cert-manager's CA issuer).
pub const K8S_CA: &str = "ca.crt";

/// Checks every mounted Secret under `dir`.
pub fn check_k8s(dir: &Path, options: &CheckOptions) -> CheckReport {
    let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
    let mut certificates = Vec::new();
    let secrets = secret_dirs(dir);
    if secrets.is_empty() {
        let mut report = CertReport::blank("secret", None, dir.join(K8S_CERT));
        report.status = Status::Error;
        report.problems.push(format!(
            "no {K8S_CERT} in {} nor in any of its subdirectories: point --k8s-dir at a mounted Secret or at the directory holding them",
            dir.display()
        ));
        certificates.push(report);
    }
    for secret in secrets {
        certificates.extend(check_secret(&secret, now, options));
    }
    CheckReport::of(dir, options, now, certificates)
}

/// `dir` itself when it holds `tls.crt`, else its subdirectories that do, by name. Entries
/// starting with `..` are the kubelet's own (`..data`, `..2026_...`) and are skipped.
fn secret_dirs(dir: &Path) -> Vec<PathBuf> {
    if dir.join(K8S_CERT).exists() {
        return vec![dir.to_path_buf()];
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".."))
        .map(|e| e.path())
        .filter(|p| p.join(K8S_CERT).exists())
        .collect();
    dirs.sort();
    dirs
}

fn error(report: &mut CertReport, message: String) {
    report.status = Status::Error;
    report.problems.push(message);
}

/// The leaf of one Secret, then its `ca.crt`.
fn check_secret(dir: &Path, now: OffsetDateTime, options: &CheckOptions) -> Vec<CertReport> {
    let secret_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let ca_path = dir.join(K8S_CA);
    let mut ca_report = CertReport::blank("ca", None, ca_path.clone());
    ca_report.name = Some(secret_name.clone());
    let ca_der = match inspect::read_cert_der(&ca_path) {
        Ok(der) => Some(der),
        Err(e) => {
            error(&mut ca_report, format!("{e}"));
            None
        }
    };
    let ca = ca_der.as_deref().and_then(|der| match inspect::parse(der) {
        Ok(ca) => Some(ca),
        Err(reason) => {
            error(&mut ca_report, format!("unreadable: {reason}"));
            None
        }
    });
    if let Some(ca) = &ca {
        describe(&mut ca_report, ca, now, options);
    }
    let mut leaf = CertReport::blank("secret", None, dir.join(K8S_CERT));
    leaf.name = Some(secret_name);
    check_leaf(dir, &mut leaf, ca.as_ref(), now, options);
    vec![leaf, ca_report]
}

/// Subject, issuer, serial and the validity verdict.
fn describe(
    report: &mut CertReport,
    cert: &X509Certificate<'_>,
    now: OffsetDateTime,
    options: &CheckOptions,
) {
    report.subject = Some(cert.subject().to_string());
    report.issuer = Some(cert.issuer().to_string());
    report.serial = Some(cert.raw_serial_as_string());
    validity(report, cert, now, options);
}

/// Not yet valid or expired is an error; expiring within the warning window a warning.
fn validity(
    report: &mut CertReport,
    cert: &X509Certificate<'_>,
    now: OffsetDateTime,
    options: &CheckOptions,
) {
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    report.not_before = Some(rfc3339(not_before));
    report.not_after = Some(rfc3339(not_after));
    let remaining = (not_after - now).whole_days();
    report.days_remaining = Some(remaining);
    if now < not_before {
        error(
            report,
            format!("not valid yet: valid from {}", human(not_before)),
        );
    } else if now > not_after {
        error(
            report,
            format!("expired on {} ({} days ago)", human(not_after), -remaining),
        );
    } else if not_after - now < time::Duration::days(i64::from(options.warn_days)) {
        report.status = report.status.max(Status::Warning);
        report.problems.push(format!(
            "expires on {} (in {remaining} days, within the {}-day warning window)",
            human(not_after),
            options.warn_days
        ));
    }
}

fn check_leaf(
    dir: &Path,
    report: &mut CertReport,
    ca: Option<&X509Certificate<'_>>,
    now: OffsetDateTime,
    options: &CheckOptions,
) {
    let der = match inspect::read_cert_der(&report.path) {
        Ok(der) => der,
        Err(e) => return error(report, format!("{e}")),
    };
    let cert = match inspect::parse(&der) {
        Ok(cert) => cert,
        Err(reason) => return error(report, format!("unreadable: {reason}")),
    };
    describe(report, &cert, now, options);
    match cert.extended_key_usage().ok().flatten().map(|e| e.value) {
        Some(eku) if eku.server_auth && !eku.client_auth => report.role = "plugin",
        Some(eku) if eku.client_auth && !eku.server_auth => report.role = "gateway",
        Some(eku) if eku.client_auth || eku.server_auth || eku.any => report
            .notes
            .push("extendedKeyUsage allows both client and server use".into()),
        Some(_) => error(
            report,
            "extendedKeyUsage has neither serverAuth nor clientAuth: TLS peers refuse it".into(),
        ),
        None => report
            .notes
            .push("no extendedKeyUsage: it can act as client and as server".into()),
    }
    match ca {
        Some(ca) if !inspect::issued_by(&cert, ca) => error(
            report,
            format!(
                "not issued by the CA in {} (issuer {}): peers trusting that CA reject it",
                dir.join(K8S_CA).display(),
                cert.issuer()
            ),
        ),
        Some(_) => {}
        None => error(
            report,
            format!(
                "cannot check the issuer: {} is missing or unreadable",
                dir.join(K8S_CA).display()
            ),
        ),
    }
    let key_path = dir.join(K8S_KEY);
    match inspect::read_key(&key_path) {
        Ok(key) if !inspect::key_matches(&key, &cert) => error(
            report,
            format!("{} does not belong to this certificate", key_path.display()),
        ),
        Ok(_) => {}
        Err(_) if !key_path.exists() => error(report, format!("{} is missing", key_path.display())),
        Err(e) => error(report, format!("key {e}")),
    }
}

#[cfg(test)]
#[path = "k8s_check_tests.rs"]
mod tests;
