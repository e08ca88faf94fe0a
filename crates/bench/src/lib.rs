#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
pub mod certgen;
pub mod cli;
mod error;
mod extras;
pub mod limit;
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
