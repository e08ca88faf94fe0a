#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
pub mod certgen;
pub mod cli;
mod error;
mod extras;
pub mod limit;
mod linkorder;
pub mod load;
mod measure;
pub mod payload;
mod phases;
pub mod procfs;
pub mod procs;
pub mod pwclient;
mod pyclient;
mod report;
mod servers;
mod stats;
pub mod suite;
mod svg;
pub mod tlsfiles;

pub use error::{BenchError, Result};

/// The allocator of this harness process, where the load generator, the plugwire client and the
/// limit server run: CPU per call depends on it (glibc's malloc cost the plugwire client about a
/// tenth of its CPU per call against mimalloc, the `plugwire` binary's), so the report names it
/// beside `plugwire serve`'s.
pub const ALLOCATOR: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "glibc malloc"
};
