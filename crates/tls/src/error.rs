//! One typed error for the crate. Every variant names where the bad value came from (a YAML key
//! or an environment variable) and, where there is one, how to fix it.

use std::fmt;
use std::path::PathBuf;

/// Where a resolved value came from, so error messages point at the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Built-in default.
    Default,
    /// A YAML key, spelled out in full (e.g. `server_settings.tls.certfile`).
    Yaml(String),
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::Yaml(key) => write!(f, "YAML key `{key}`"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// A setting that can be given in two places; used in "set X" messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Full YAML key.
    pub yaml: String,
    /// Environment variable.
    pub env: &'static str,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "YAML key `{}` or environment variable {}",
            self.yaml, self.env
        )
    }
}

/// Everything that can go wrong resolving settings or building a rustls config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A boolean variable with a spelling we do not accept.
    #[error("invalid boolean value {value:?} in environment variable {var}: use 1/0, true/false, yes/no or on/off")]
    InvalidBool {
        /// The variable.
        var: &'static str,
        /// What it held.
        value: String,
    },
    /// A port that is not an integer in 1..=65535.
    #[error("invalid port {value:?} in {origin}: it must be an integer from 1 to 65535")]
    InvalidPort {
        /// Where it came from.
        origin: Origin,
        /// What it held.
        value: String,
    },
    /// An empty or blank host.
    #[error("invalid host {value:?} in {origin}: give an address or name to bind, e.g. 127.0.0.1 or 0.0.0.0")]
    InvalidHost {
        /// Where it came from.
        origin: Origin,
        /// What it held.
        value: String,
    },
    /// `ssl_cert_reqs` not 0, 1 or 2.
    #[error("invalid ssl_cert_reqs {value:?} in {origin}: it must be the integer 0 (no client certificate), 1 (optional) or 2 (required, mTLS)")]
    InvalidCertReqs {
        /// Where it came from.
        origin: Origin,
        /// What it held.
        value: String,
    },
    /// A Unix socket path that is relative.
    #[error("Unix socket path {path:?} in {origin} must be absolute")]
    UdsNotAbsolute {
        /// Where it came from.
        origin: Origin,
        /// The path.
        path: PathBuf,
    },
    /// A Unix socket path whose directory does not exist.
    #[error("the directory {parent:?} of the Unix socket path {path:?} in {origin} does not exist: create it first")]
    UdsParentMissing {
        /// Where it came from.
        origin: Origin,
        /// The socket path.
        path: PathBuf,
        /// Its parent directory.
        parent: PathBuf,
    },
    /// TLS and a Unix socket together.
    #[error("TLS is not supported on a Unix domain socket ({uds_origin} sets one, {tls_origin} turns TLS on): a Unix socket is protected by its file permissions and never leaves the host. Remove one of the two")]
    UdsWithTls {
        /// Where the socket path came from.
        uds_origin: Origin,
        /// Where TLS was turned on.
        tls_origin: Origin,
    },
    /// TLS on but no certificate anywhere.
    #[error("TLS is enabled ({enabled_by}) but no certificate is configured: set {certfile} (and {keyfile}, unless the certificate file also holds the key)")]
    MissingCertificate {
        /// What turned TLS on.
        enabled_by: Origin,
        /// Where a certificate can be given.
        certfile: Setting,
        /// Where a key can be given.
        keyfile: Setting,
    },
    /// No key file and the certificate file holds no key either.
    #[error("no private key: {keyfile} is not set and the certificate file {certfile:?} ({certfile_origin}) holds no private key. Set {keyfile}")]
    MissingKey {
        /// Where a key can be given.
        keyfile: Setting,
        /// The certificate file that was searched for a key.
        certfile: PathBuf,
        /// Where it came from.
        certfile_origin: Origin,
    },
    /// A key file without a certificate file.
    #[error(
        "{keyfile_origin} sets a key file but no certificate is configured: set {certfile} too"
    )]
    KeyfileWithoutCertfile {
        /// Where the key file came from.
        keyfile_origin: Origin,
        /// Where a certificate can be given.
        certfile: Setting,
    },
    /// Client certificates requested but nothing to verify them against.
    #[error("ssl_cert_reqs={cert_reqs} ({cert_reqs_origin}) asks clients for certificates but no CA bundle is configured to verify them: set {ca_bundle}, or set ssl_cert_reqs to 0")]
    MissingCaBundle {
        /// The policy value.
        cert_reqs: u8,
        /// Where it came from.
        cert_reqs_origin: Origin,
        /// Where a CA bundle can be given.
        ca_bundle: Setting,
    },
    /// Server TLS file variables set while TLS is off.
    #[error("{var} is set but server TLS is not enabled: set PLUGINS_SERVER_SSL_ENABLED=true (or add server_settings.tls to the YAML), or unset {var}. plugwire never silently serves plaintext when TLS files are configured")]
    TlsVarWithoutTls {
        /// The variable that was set.
        var: &'static str,
    },
    /// A file that cannot be read.
    #[error("cannot read {what} {path:?} ({origin}): {err}")]
    FileUnreadable {
        /// What the file is for ("certificate file", "CA bundle", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// The I/O error.
        #[source]
        err: std::io::Error,
    },
    /// A certificate file or CA bundle with no usable certificate.
    #[error("{what} {path:?} ({origin}) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----){detail}")]
    NoCertificates {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Extra detail (parse error), starting with "; " when present.
        detail: String,
    },
    /// A certificate in a CA bundle that rustls cannot use as a trust anchor.
    #[error("CA bundle {path:?} ({origin}) is not usable: {reason}")]
    InvalidCaBundle {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Why.
        reason: String,
    },
    /// No private key in a key file.
    #[error("key file {path:?} ({origin}) holds no private key: expected one of -----BEGIN PRIVATE KEY-----, -----BEGIN ENCRYPTED PRIVATE KEY-----, -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----")]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
    },
    /// A key in the legacy OpenSSL `Proc-Type: 4,ENCRYPTED` format.
    #[error("key file {path:?} ({origin}) is encrypted in the legacy OpenSSL format (Proc-Type: 4,ENCRYPTED), which plugwire does not read. Convert it to encrypted PKCS#8 with: openssl pkcs8 -topk8 -in old.key -out new.key  (then set {password} to the new password)")]
    LegacyEncryptedKey {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Where the password goes.
        password: Setting,
    },
    /// An encrypted key with no password configured.
    #[error("key file {path:?} ({origin}) is encrypted (BEGIN ENCRYPTED PRIVATE KEY) but no password is configured: set {password}")]
    EncryptedKeyWithoutPassword {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Where the password goes.
        password: Setting,
    },
    /// A password that does not decrypt the key (or an encryption scheme we cannot read).
    #[error("cannot decrypt key file {path:?} ({origin}) with the password from {password_origin}: {reason}")]
    KeyDecrypt {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Where the password came from.
        password_origin: Origin,
        /// Why (wrong password, unsupported scheme).
        reason: String,
    },
    /// A key rustls/aws-lc-rs cannot use.
    #[error("key file {path:?} ({origin}) holds a private key that cannot be used: {reason}")]
    InvalidKey {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Why.
        reason: String,
    },
    /// Certificate and key are not a pair.
    #[error("the private key {keyfile:?} ({keyfile_origin}) does not belong to the certificate {certfile:?} ({certfile_origin}): their public keys differ. Point both settings at the same identity")]
    KeyMismatch {
        /// The certificate file.
        certfile: PathBuf,
        /// Where it came from.
        certfile_origin: Origin,
        /// The key file (the certificate file when the key is inside it).
        keyfile: PathBuf,
        /// Where it came from.
        keyfile_origin: Origin,
    },
    /// Client: nothing to trust.
    #[error("server certificate verification is on but no CA bundle is configured and the system bundle {system_bundle} does not exist: set {ca_bundle}")]
    NoTrustStore {
        /// Where a CA bundle can be given.
        ca_bundle: Setting,
        /// The system bundle path that was tried.
        system_bundle: &'static str,
    },
    /// A host that is neither a DNS name nor an IP address.
    #[error("{host:?} is not a valid DNS name or IP address for TLS")]
    InvalidServerName {
        /// The host.
        host: String,
    },
    /// Any other rustls error while building a config.
    #[error("{context}: {err}")]
    Rustls {
        /// What was being done.
        context: String,
        /// The rustls error.
        #[source]
        err: rustls::Error,
    },
}
