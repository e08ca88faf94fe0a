#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod escape;
mod one_pass;
mod read;
mod scan;
mod slice_de;
mod unescape;

#[cfg(any(test, feature = "test-support"))]
pub mod testgen;

pub use escape::{escape_into, escape_twice_into};
pub use one_pass::{Compact, Fallback, Layout, OnePass};
pub use read::{read_checked, read_checked_seed, read_seed};
pub use slice_de::{Declined, SliceDeserializer};
pub use unescape::unescape_str;
