#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod args;
pub mod certgen;
pub mod cli;
pub mod error;
pub mod extras;
pub mod limit;
pub mod load;
pub mod measure;
pub mod payload;
pub mod phases;
pub mod procfs;
pub mod procs;
pub mod pwclient;
pub mod pyclient;
pub mod report;
pub mod servers;
pub mod stats;
pub mod suite;
pub mod svg;
pub mod tlsfiles;

pub use error::{BenchError, Result};
