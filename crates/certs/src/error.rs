//! The crate's one error type: every variant names the file, directory, plugin or option
//! involved and, where there is one, the fix.

use std::path::PathBuf;

/// Everything that can go wrong while creating or checking certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertsError {
    /// A plugin name that would be unsafe as a directory name or a DNS name.
    #[error(
        "invalid plugin name {name:?}: {reason}; use letters, digits, '_', '-' and '.', with every dot-separated part non-empty and not starting or ending with '-' (the name is a DNS name of the certificate), e.g. my-plugin"
    )]
    InvalidPluginName {
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A `--san` value that is neither `DNS:<name>`, `IP:<address>` nor `URI:<uri>`.
    #[error("invalid --san {value:?}: {reason}; use DNS:host.example, IP:127.0.0.1 or URI:spiffe://cluster.local/ns/mcp/sa/gateway")]
    InvalidSan {
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: String,
    },

    /// `--days` out of range.
    #[error("invalid validity of {days} days: use 1..=36500")]
    InvalidDays {
        /// The value given.
        days: u32,
    },

    /// An explicitly given plugin config file does not exist.
    #[error("plugin config {path} does not exist (given with --config / MCP_PLUGIN_CONFIG); fix the path, or leave it unset to use plugins/external/config.yaml")]
    ConfigMissing {
        /// The file.
        path: PathBuf,
    },

    /// The plugin config file exists but cannot be read.
    #[error("cannot read plugin config {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The plugin config is not YAML, or not the shape of a plugins config.
    #[error("plugin config {path}: {message}")]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// An existing identity is incomplete (e.g. a key without its certificate).
    #[error("{what} in {dir} is incomplete: {present} exists but {missing} is missing; restore it, or replace the identity with --force ({hint})")]
    Incomplete {
        /// Which identity.
        what: String,
        /// Its directory.
        dir: PathBuf,
        /// The file that exists.
        present: String,
        /// The file that is missing.
        missing: String,
        /// The command that replaces it.
        hint: String,
    },

    /// The CA key on disk does not belong to the CA certificate on disk.
    #[error("CA key {key} does not match CA certificate {cert}; restore the matching pair, or create a new CA with `plugwire certs ca --force` (then re-issue every certificate with `plugwire certs all --force`)")]
    CaKeyMismatch {
        /// The CA key file.
        key: PathBuf,
        /// The CA certificate file.
        cert: PathBuf,
    },

    /// A PEM file that could not be parsed.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },

    /// Reading an existing file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Creating a directory or writing a file failed (the run was undone: nothing of it was
    /// left behind).
    #[error("cannot write {path}: {source}{}", permission_hint(source))]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A new file could not be put in place of an existing one, or the existing one could not
    /// be kept aside first (a file that is busy, e.g. a bind mount, or immutable). The run was
    /// undone; `kept` says what was restored.
    #[error("cannot replace {path}: {source}; {kept}")]
    Replace {
        /// The file.
        path: PathBuf,
        /// The I/O error, as the OS reported it.
        #[source]
        source: std::io::Error,
        /// What happened to the previous files ("nothing was changed: …").
        kept: String,
    },

    /// A directory the run would write to does not accept new files (checked before any key is
    /// generated or file written).
    #[error("cannot write in {dir}: {source}; nothing was changed: make it writable, or choose another directory with --dir / MCP_CERT_DIR, and run the command again")]
    NotWritable {
        /// The directory.
        dir: PathBuf,
        /// Why (the OS error of the probe file, or which path is not a directory).
        #[source]
        source: std::io::Error,
    },

    /// SIGINT or SIGTERM arrived while the run was writing; what it had written was undone.
    #[error("interrupted: the files being written were removed and the replaced ones restored")]
    Interrupted,

    /// A file that did not exist when the command started appeared before it was written
    /// (another `plugwire certs` running at the same time); it was left alone.
    #[error("{path} appeared while it was being created (is another `plugwire certs` running?); it was not overwritten and nothing of this identity was written: run the command again")]
    Appeared {
        /// The file.
        path: PathBuf,
    },

    /// Key generation or signing failed inside the crypto library.
    #[error("{what}: {reason}")]
    Crypto {
        /// Which identity.
        what: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The writability hint, only where the OS said permission (not for a busy or missing file).
fn permission_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            "; check that the directory is writable or choose another with --dir / MCP_CERT_DIR"
        }
        _ => "",
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = CertsError> = std::result::Result<T, E>;
