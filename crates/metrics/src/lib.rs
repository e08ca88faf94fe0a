#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod calls;
pub mod certs;
mod client;
pub mod env;
pub mod expose;
mod labels;
mod server;

pub use calls::{CallMetrics, CallTimer};
pub use client::ClientMetrics;
pub use env::{metrics_enabled, ENABLE_METRICS};
pub use labels::{CertRole, HandshakeResult, Outcome, Transport};
pub use server::{ConnectionGuard, ServerMetrics};
