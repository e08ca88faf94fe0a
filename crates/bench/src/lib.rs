//! `plugwire-bench`: the benchmark harness behind `make bench`.
//!
//! It measures `plugwire serve` against the ContextForge 1.0.0 Python plugin runtime and
//! against a minimal rustls server (the limit), with the same load generator, and the gateway
//! clients (plugwire's and Python's) against both servers; then writes `docs/benchmarks.md`
//! from what it measured.
//!
//! # Layout
//! - [`load`]: the load generator (kept-alive mTLS connections, one per worker, counted).
//! - [`limit`]: the limit server (fixed JSON answer, no parsing).
//! - [`procfs`]: CPU time, RSS and TCP connections of other processes, from `/proc`.
//! - [`payload`]: the ~1 KiB `tool_pre_invoke` request every pair sends.
//! - [`tlsfiles`]: rustls configs from PEM files; [`certgen`]: ECDSA material for the smoke test.
//! - [`stats`]: quantiles and medians.
//! - [`procs`]: starting servers, waiting for health, stopping them.
//! - [`args`]: the options of `run` and `render`, and the server [`args::Kind`]s.
//! - [`suite`]: the whole benchmark; [`report`]: the Markdown it writes.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod args;
pub mod certgen;
pub mod cli;
pub mod error;
pub mod limit;
pub mod load;
pub mod measure;
pub mod payload;
pub mod procfs;
pub mod procs;
pub mod pwclient;
pub mod pyclient;
pub mod report;
pub mod stats;
pub mod suite;
pub mod tlsfiles;

pub use error::{BenchError, Result};
