//! plugwire-metrics: the Prometheus metrics of `plugwire serve` and of the gateway client.
//!
//! Operators scrape `GET /metrics/prometheus` (the path ContextForge's Python plugin server
//! uses; `/metrics` too) on the main port and on the plain health port. Everything here is a
//! `prometheus-client` family in one [`prometheus_client::registry::Registry`] per side, so the
//! text is produced by a maintained encoder, never formatted by hand. See `docs/metrics.md`.
//!
//! Recording is cheap enough for the hook-call hot path: the counters and the histogram of a
//! plugin × hook pair are created once (at start-up by [`CallMetrics::preregister`], or on the
//! first call) and found again by `&str` look-ups under a read lock, so a call allocates
//! nothing. With `ENABLE_METRICS=false` every recording method returns at its first line.
//!
//! # Layout
//! - [`env`]: `ENABLE_METRICS`, read through the `plugwire_env::Env` seam; the binary decides
//!   once at start-up ([`env::init`]), tests use a map.
//! - [`labels`]: the closed label values: [`Outcome`], [`HandshakeResult`], [`Transport`],
//!   [`CertRole`]; how a rustls error maps to a handshake result.
//! - [`calls`]: [`CallMetrics`], calls/outcomes/violations/latency per plugin × hook, shared by
//!   both sides under different metric names.
//! - [`certs`]: seconds until `notAfter` of every certificate the process loaded.
//! - [`server`]: [`ServerMetrics`], the server's registry and its process-wide instance.
//! - [`client`]: [`ClientMetrics`], the gateway side's registry and its process-wide instance.
//! - [`expose`]: the exposition text, its content type, the paths and the disabled answer.

pub mod calls;
pub mod certs;
pub mod client;
pub mod env;
pub mod expose;
pub mod labels;
pub mod server;

pub use calls::{CallMetrics, CallTimer};
pub use client::ClientMetrics;
pub use env::{metrics_enabled, ENABLE_METRICS};
pub use labels::{CertRole, HandshakeResult, Outcome, Transport};
pub use server::{ConnectionGuard, ServerMetrics};
