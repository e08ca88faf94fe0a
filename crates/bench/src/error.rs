//! One error type for the harness: every variant says which file, process or peer failed.

use std::path::PathBuf;

/// What went wrong while preparing or running a benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} did not become healthy within {secs} s; its output:\n{output}")]
    NotHealthy {
        what: String,
        secs: u64,
        output: String,
    },
    #[error("{what} failed: {reason}")]
    Run { what: String, reason: String },
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;
