#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod escape;
mod one_pass;

#[cfg(any(test, feature = "test-support"))]
pub mod testgen;

pub use escape::{escape_into, escape_twice_into};
pub use one_pass::{Compact, Fallback, Layout, OnePass};
