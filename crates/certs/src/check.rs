//! `check`: every certificate in the tree with subject, expiry and days left, and whatever
//! would make a TLS peer refuse it. Works on expired material; never writes.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Version;

use crate::inspect;
use crate::layout::{Identity, IdentityPaths, Layout};

/// Default warning window in days.
pub const DEFAULT_WARN_DAYS: u32 = 30;

/// How to check.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Certificates expiring within this many days are reported as warnings (exit 1).
    pub warn_days: u32,
    /// The instant to check against (default: now).
    pub now: Option<OffsetDateTime>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            warn_days: DEFAULT_WARN_DAYS,
            now: None,
        }
    }
}

/// Ordered so that the worst status of a tree is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Valid and outside the warning window.
    Ok,
    /// Valid but expiring within the warning window.
    Warning,
    /// Expired, not yet valid, unreadable, missing, or not issued by the CA.
    Error,
}

impl Status {
    /// The documented exit code: 0 ok, 1 warning, 2 error.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Error => 2,
        }
    }
}

/// One certificate's findings.
#[derive(Debug, Clone, Serialize)]
pub struct CertReport {
    /// `ca`, `gateway` or `plugin`.
    pub role: &'static str,
    /// The plugin name for plugin certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The certificate file.
    pub path: PathBuf,
    /// Subject DN, e.g. `CN=mcp-plugin-x, O=MCPGateway, OU=Plugins`.
    pub subject: Option<String>,
    /// Issuer DN.
    pub issuer: Option<String>,
    /// Serial in hex.
    pub serial: Option<String>,
    /// Start of validity (RFC 3339).
    pub not_before: Option<String>,
    /// End of validity (RFC 3339).
    pub not_after: Option<String>,
    /// Whole days until `not_after` (negative once expired).
    pub days_remaining: Option<i64>,
    /// The verdict.
    pub status: Status,
    /// What makes it a warning or an error.
    pub problems: Vec<String>,
    /// Facts that do not change the verdict (e.g. a certificate made by the Python Makefile).
    pub notes: Vec<String>,
}

/// The whole tree's findings.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The directory checked.
    pub dir: PathBuf,
    /// The warning window used.
    pub warn_days: u32,
    /// When the check ran (RFC 3339).
    pub checked_at: String,
    /// The worst status of all certificates.
    pub status: Status,
    /// The exit code `plugwire certs check` returns.
    pub exit_code: u8,
    /// CA first, then the gateway, then plugins by name.
    pub certificates: Vec<CertReport>,
    /// Temporary files and backups that `plugwire certs` runs left in the tree (a run that was
    /// killed while writing). Reported as warnings; they do not change `status` or `exit_code`,
    /// which are about the certificates.
    pub leftover_files: Vec<LeftoverFile>,
}

/// A temporary file or backup of a `plugwire certs` run found in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct LeftoverFile {
    /// The file (`ca/.ca.key.tmp-24620-0`).
    pub path: PathBuf,
    /// The file it belongs to (`ca/ca.key`).
    pub target: PathBuf,
    /// `temporary` or `backup`.
    pub kind: &'static str,
    /// The process that wrote it.
    pub pid: u32,
    /// Whether that process still runs (`None`: cannot tell, no `/proc`).
    pub process_running: Option<bool>,
}

impl LeftoverFile {
    /// One line for people: what it is and what to do.
    pub fn describe(&self) -> String {
        let (path, target, pid) = (self.path.display(), self.target.display(), self.pid);
        let (process, later) = match self.process_running {
            Some(false) => (
                format!("process {pid}, which is gone"),
                "the next plugwire certs ca|gateway|plugin|all run does this itself",
            ),
            Some(true) => (
                format!("process {pid}, which is still running (a plugwire certs run in progress?)"),
                "wait for that process to end: runs leave the files of a running process alone",
            ),
            None => (
                format!("process {pid}"),
                "runs leave it alone, as without /proc they cannot tell whether that process still runs",
            ),
        };
        if self.kind == "backup" {
            format!(
                "{path}: the previous version of {target}, left by {process}; if {target} is missing or does not work, restore it with `mv {path} {target}`, else delete {path} (when {target} is missing, {later})"
            )
        } else {
            format!(
                "{path}: a temporary file of {target} (it may hold a private key), left by {process}; delete it ({later})"
            )
        }
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// `2029-02-26 02:24:18 UTC`, for people.
pub(crate) fn human(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Checks the tree under `dir`.
pub fn check(dir: &Path, options: &CheckOptions) -> CheckReport {
    let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
    let layout = Layout::new(dir);
    let ca_path = layout.ca_cert();
    let ca_der = inspect::read_cert_der(&ca_path).ok();
    let ca = ca_der.as_deref().and_then(|der| inspect::parse(der).ok());
    let revoked = ca
        .as_ref()
        .map(|ca| crate::revoke::revoked_serials(&layout, ca))
        .unwrap_or_default();

    let mut identities = vec![Identity::Ca, Identity::Gateway];
    identities.extend(layout.existing_plugins().into_iter().map(Identity::Plugin));
    let certificates: Vec<CertReport> = identities
        .iter()
        .map(|identity| {
            check_one(
                &layout,
                identity,
                ca.as_ref(),
                ca_der.as_deref(),
                &revoked,
                now,
                options,
            )
        })
        .collect();
    let mut report = CheckReport::of(dir, options, now, certificates);
    report.leftover_files = crate::leftovers::leftovers(&layout)
        .into_iter()
        .map(|side| LeftoverFile {
            process_running: side.process_running(),
            path: side.path,
            target: side.target,
            kind: if side.backup { "backup" } else { "temporary" },
            pid: side.pid,
        })
        .collect();
    report
}

/// Checks one identity in named phases: read, validity window, issuer, extensions, private
/// key, CA copy. Each phase adds its problems (errors or warnings) and notes to the report.
fn check_one(
    layout: &Layout,
    identity: &Identity,
    ca: Option<&X509Certificate<'_>>,
    ca_der: Option<&[u8]>,
    revoked: &[x509_parser::num_bigint::BigUint],
    now: OffsetDateTime,
    options: &CheckOptions,
) -> CertReport {
    let paths = layout.paths(identity);
    let mut report = CertReport::empty(identity, &paths);
    let Some(der) = read_der(&paths, &mut report) else {
        return report;
    };
    let cert = match inspect::parse(&der) {
        Ok(cert) => cert,
        Err(reason) => {
            report.error(format!("unreadable: {reason}"));
            return report;
        }
    };
    report.subject = Some(cert.subject().to_string());
    report.issuer = Some(cert.issuer().to_string());
    report.serial = Some(cert.raw_serial_as_string());
    if revoked.contains(&cert.tbs_certificate.serial) {
        report.error(format!(
            "revoked: its serial is listed in {} (re-issue it with --force)",
            layout.ca_crl().display()
        ));
    }
    check_validity(&cert, now, options, &mut report);
    check_issuer(layout, identity, &cert, ca, &mut report);
    check_extensions(identity, &cert, &mut report);
    check_key(&paths, &cert, &mut report);
    check_ca_copy(layout, &paths, ca_der, &mut report);
    report
}

impl CertReport {
    /// A report on the certificate at `path` before anything was read: status OK, no findings.
    pub(crate) fn blank(role: &'static str, name: Option<String>, path: PathBuf) -> Self {
        CertReport {
            role,
            name,
            path,
            subject: None,
            issuer: None,
            serial: None,
            not_before: None,
            not_after: None,
            days_remaining: None,
            status: Status::Ok,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The report of `identity` before anything was read: status OK, no findings.
    fn empty(identity: &Identity, paths: &IdentityPaths) -> Self {
        let (role, name) = match identity {
            Identity::Ca => ("ca", None),
            Identity::Gateway => ("gateway", None),
            Identity::Plugin(n) => ("plugin", Some(n.clone())),
        };
        CertReport::blank(role, name, paths.cert.clone())
    }

    fn error(&mut self, message: String) {
        self.status = Status::Error;
        self.problems.push(message);
    }
}

/// The certificate's DER, or `None` with the reason in the report.
fn read_der(paths: &IdentityPaths, report: &mut CertReport) -> Option<Vec<u8>> {
    if !paths.cert.exists() {
        report.error(format!("{} is missing", paths.cert.display()));
        return None;
    }
    match inspect::read_cert_der(&paths.cert) {
        Ok(der) => Some(der),
        Err(e) => {
            report.error(format!("unreadable: {e}"));
            None
        }
    }
}

/// Not yet valid or expired (errors), or expiring within the warning window (a warning).
fn check_validity(
    cert: &X509Certificate<'_>,
    now: OffsetDateTime,
    options: &CheckOptions,
    report: &mut CertReport,
) {
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    report.not_before = Some(rfc3339(not_before));
    report.not_after = Some(rfc3339(not_after));
    let remaining = (not_after - now).whole_days();
    report.days_remaining = Some(remaining);
    if now < not_before {
        report.error(format!("not valid yet: valid from {}", human(not_before)));
    } else if now > not_after {
        report.error(format!(
            "expired on {} ({} days ago)",
            human(not_after),
            -remaining
        ));
    } else if not_after - now < time::Duration::days(i64::from(options.warn_days)) {
        report.status = report.status.max(Status::Warning);
        report.problems.push(format!(
            "expires on {} (in {remaining} days, within the {}-day warning window)",
            human(not_after),
            options.warn_days
        ));
    }
}

/// The CA must be a self-signed CA certificate; a leaf must be issued by it.
fn check_issuer(
    layout: &Layout,
    identity: &Identity,
    cert: &X509Certificate<'_>,
    ca: Option<&X509Certificate<'_>>,
    report: &mut CertReport,
) {
    match (identity, ca) {
        (Identity::Ca, _) => {
            if cert.verify_signature(None).is_err() {
                report.error("not self-signed: ca/ca.crt must be the root CA certificate".into());
            }
            let is_ca = cert
                .basic_constraints()
                .ok()
                .flatten()
                .map(|bc| bc.value.ca)
                .unwrap_or(false);
            if !is_ca {
                report.error(
                    "no basicConstraints CA:TRUE: TLS peers will not accept it as a CA".into(),
                );
            }
            let signs = cert
                .key_usage()
                .ok()
                .flatten()
                .map(|ku| ku.value.key_cert_sign());
            if signs.is_none() {
                report.notes.push(
                    "no keyUsage extension (as the ContextForge Makefile makes it): strict verifiers such as Python >= 3.13 reject it".into(),
                );
            }
        }
        (_, Some(ca)) => {
            if !inspect::issued_by(cert, ca) {
                report.error(format!(
                    "not issued by the CA in {} (issuer {}): peers trusting that CA reject it",
                    layout.ca_cert().display(),
                    cert.issuer()
                ));
            }
        }
        (_, None) => report
            .error("cannot check the issuer: the CA certificate is missing or unreadable".into()),
    }
}

/// X.509 v3, and the extended key usage a leaf's role needs.
fn check_extensions(identity: &Identity, cert: &X509Certificate<'_>, report: &mut CertReport) {
    if cert.version() != X509Version::V3 {
        report.notes.push(format!(
            "X.509 {:?} certificate (no extensions): rustls refuses it; re-issue it with plugwire certs",
            cert.version()
        ));
    }
    if identity == &Identity::Ca {
        return;
    }
    let eku = cert.extended_key_usage().ok().flatten().map(|e| e.value);
    match (identity, eku) {
        (_, None) => report
            .notes
            .push("no extendedKeyUsage: it can act as client and as server".into()),
        (Identity::Gateway, Some(eku)) if !eku.client_auth && !eku.any => {
            report.error("extendedKeyUsage lacks clientAuth: plugin servers refuse it".into())
        }
        (Identity::Plugin(_), Some(eku)) if !eku.server_auth && !eku.any => {
            report.error("extendedKeyUsage lacks serverAuth: the gateway refuses it".into())
        }
        _ => {}
    }
}

/// The private key beside the certificate must exist and belong to it.
fn check_key(paths: &IdentityPaths, cert: &X509Certificate<'_>, report: &mut CertReport) {
    match inspect::read_key(&paths.key) {
        Ok(key) if !inspect::key_matches(&key, cert) => report.error(format!(
            "{} does not belong to this certificate",
            paths.key.display()
        )),
        Ok(_) => {}
        Err(_) if !paths.key.exists() => {
            report.error(format!("{} is missing", paths.key.display()));
        }
        Err(e) => report.error(format!("key {e}")),
    }
}

/// The CA copy beside a leaf must be the current CA certificate.
fn check_ca_copy(
    layout: &Layout,
    paths: &IdentityPaths,
    ca_der: Option<&[u8]>,
    report: &mut CertReport,
) {
    let (Some(copy), Some(ca_der)) = (&paths.ca_copy, ca_der) else {
        return;
    };
    match inspect::read_cert_der(copy) {
        Ok(copy_der) if copy_der != ca_der => report.error(format!(
            "{} differs from {}: peers using it will not trust the current CA; re-issue this identity with --force",
            copy.display(),
            layout.ca_cert().display()
        )),
        Ok(_) => {}
        Err(_) if !copy.exists() => report.notes.push(format!("{} is missing", copy.display())),
        Err(e) => report.error(e.to_string()),
    }
}

impl CheckReport {
    /// The report over `certificates`: its status (and exit code) is the worst of theirs.
    pub(crate) fn of(
        dir: &Path,
        options: &CheckOptions,
        now: OffsetDateTime,
        certificates: Vec<CertReport>,
    ) -> Self {
        let status = certificates
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok);
        CheckReport {
            dir: dir.to_path_buf(),
            warn_days: options.warn_days,
            checked_at: rfc3339(now),
            status,
            exit_code: status.exit_code(),
            certificates,
            leftover_files: Vec::new(),
        }
    }

    /// The report for people, one block per certificate.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "🔍  Checking MCP certificates in {} (warning window: {} days)\n",
            self.dir.display(),
            self.warn_days
        );
        for cert in &self.certificates {
            let title = match (cert.role, &cert.name) {
                ("ca", _) => "CA certificate".to_string(),
                ("gateway", _) => "Gateway client certificate".to_string(),
                (_, Some(name)) => format!("Plugin '{name}'"),
                (role, None) => role.to_string(),
            };
            let mark = match cert.status {
                Status::Ok => "✅",
                Status::Warning => "⚠️ ",
                Status::Error => "❌",
            };
            out.push_str(&format!("\n{mark} {title}: {}\n", cert.path.display()));
            if let Some(subject) = &cert.subject {
                out.push_str(&format!("   Subject: {subject}\n"));
            }
            if let (Some(not_after), Some(days)) = (&cert.not_after, cert.days_remaining) {
                let when = OffsetDateTime::parse(not_after, &Rfc3339)
                    .map(human)
                    .unwrap_or_else(|_| not_after.clone());
                let left = if days >= 0 {
                    format!("{days} days left")
                } else {
                    format!("expired {} days ago", -days)
                };
                out.push_str(&format!("   Expires: {when} ({left})\n"));
            }
            for problem in &cert.problems {
                out.push_str(&format!("   {problem}\n"));
            }
            for note in &cert.notes {
                out.push_str(&format!("   note: {note}\n"));
            }
        }
        if !self.leftover_files.is_empty() {
            out.push_str(
                "\n⚠️  Files left by an interrupted plugwire certs run (they do not change the exit code):\n",
            );
            for file in &self.leftover_files {
                out.push_str(&format!("   {}\n", file.describe()));
            }
        }
        let verdict = match self.status {
            Status::Ok => "all certificates are valid".to_string(),
            Status::Warning => format!(
                "some certificates expire within {} days: re-issue them with --force before they do",
                self.warn_days
            ),
            Status::Error => "some certificates are expired, not yet valid, missing, unreadable or not issued by the CA: re-issue them (plugwire certs all --force)".to_string(),
        };
        out.push_str(&format!("\n{verdict} (exit code {})\n", self.exit_code));
        out
    }

    /// The report as JSON (what `--json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
