//! One typed error for the crate. Every variant names where the bad value came from (a YAML key
//! or an environment variable) and, where there is one, how to fix it.

use std::path::PathBuf;

pub use plugwire_env::{InvalidBool, Key as Setting, Origin};

/// Everything that can go wrong resolving TLS settings or building a rustls config. Host, port
/// and socket paths are the server crate's concern, not this one's.
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
    /// A gRPC `client_auth` that is not none, optional or require.
    #[error("invalid client_auth {value:?} in {origin}: use none, optional or require (any case)")]
    InvalidClientAuth {
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
    #[error("{cert_reqs} ({cert_reqs_origin}) asks clients for certificates but no CA bundle is configured to verify them: set {ca_bundle}, or set {no_client_auth}")]
    MissingCaBundle {
        /// The policy as configured, e.g. `ssl_cert_reqs=2` or `client_auth=require`.
        cert_reqs: String,
        /// How to turn client certificates off, e.g. `ssl_cert_reqs to 0`.
        no_client_auth: &'static str,
        /// Where it came from.
        cert_reqs_origin: Origin,
        /// Where a CA bundle can be given.
        ca_bundle: Setting,
    },
    /// Server TLS file variables set while TLS is off.
    #[error("{var} is set but server TLS is not enabled: set {enabled_var}=true (or add {tls_key} to the YAML), or unset {var}. plugwire never silently serves plaintext when TLS files are configured")]
    TlsVarWithoutTls {
        /// The variable that was set.
        var: &'static str,
        /// The variable that turns TLS on.
        enabled_var: &'static str,
        /// The YAML block that turns TLS on.
        tls_key: &'static str,
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
    /// The server certificate is outside its validity period and the operator asked to refuse it.
    #[error("the server certificate {path:?} ({origin}) {status}; refusing it because {refuse} is true. Renew the certificate (e.g. plugwire certs plugin NAME --force), or unset {refuse} to start with a warning")]
    CertificateNotValid {
        /// The certificate file.
        path: std::path::PathBuf,
        /// Where it came from.
        origin: Origin,
        /// "expired on DATE" / "is not valid before DATE".
        status: String,
        /// The setting that asked for the refusal.
        refuse: Setting,
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
    /// An `allowed_clients` entry that cannot match anything.
    #[error("invalid allowed_clients entry {entry:?} in {origin}: {reason}")]
    InvalidAllowedClient {
        /// Where the list came from.
        origin: Origin,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `allowed_clients` given but empty: it would refuse every client.
    #[error("allowed_clients in {origin} is empty, which would refuse every client: list the identities allowed to call (DNS names, spiffe:// IDs, CNs), or remove it to allow every certificate from the CA")]
    EmptyAllowList {
        /// Where the list came from.
        origin: Origin,
    },
    /// `allowed_clients` without a required client certificate.
    #[error("allowed_clients ({origin}) needs client certificates to be required, but {policy} ({policy_origin}): set {policy_setting} to require them (ssl_cert_reqs 2 / client_auth require), or remove allowed_clients")]
    AllowListWithoutRequiredCert {
        /// Where the list came from.
        origin: Origin,
        /// The policy in effect.
        policy: String,
        /// Where the policy came from.
        policy_origin: Origin,
        /// Where the policy is set.
        policy_setting: Setting,
    },
    /// A CRL file that does not parse, or that the CA bundle did not sign.
    #[error("CRL file {path:?} ({origin}) is not usable: {reason}")]
    InvalidCrl {
        /// The file.
        path: PathBuf,
        /// Where the path came from.
        origin: Origin,
        /// Why.
        reason: String,
    },
    /// A setting that only makes sense with another one (e.g. a CRL without certificate checks).
    #[error("{setting} ({origin}) has no effect {because}: {fix}")]
    Ineffective {
        /// The setting given.
        setting: Setting,
        /// Where it came from.
        origin: Origin,
        /// Why it has no effect.
        because: &'static str,
        /// What to do.
        fix: &'static str,
    },
    /// A pinned server identity that no certificate can carry.
    #[error("invalid server_name {value:?} in {origin}: {reason}")]
    InvalidServerNamePin {
        /// Where it came from.
        origin: Origin,
        /// What it held.
        value: String,
        /// Why.
        reason: String,
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

impl From<InvalidBool> for TlsError {
    fn from(e: InvalidBool) -> Self {
        TlsError::InvalidBool {
            var: e.var,
            value: e.value,
        }
    }
}
