#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod escape;
mod one_pass;

pub use escape::{escape_into, escape_twice_into};
pub use one_pass::{Fallback, Layout, OnePass};
