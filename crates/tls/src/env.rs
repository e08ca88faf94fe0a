//! The environment seam, re-exported from `plugwire-env` so TLS callers need one import.

pub use plugwire_env::{get, get_bool, parse_bool, vars, Env, InvalidBool, ProcessEnv};
