#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod answer;
pub mod authority;
pub mod convert;
pub mod frame;
pub mod hpack;
mod huffman_table;
pub mod json_struct;
mod json_struct_fast;
pub mod struct_writer;
pub mod structs;

/// What the unit tests of several modules share.
#[cfg(test)]
mod test_support {
    use serde_json::{Map, Value};

    /// The object inside `v` (test inputs are written as `json!({...})`).
    pub(crate) fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }
}

/// Generated code (prost messages, tonic client and server stubs).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    /// Package `cpex` (ContextForge 1.1.0): every message, plus the services.
    pub mod cpex {
        include!(concat!(env!("OUT_DIR"), "/cpex.rs"));
    }
    /// Package `mcpgateway.plugins` (ContextForge 1.0.x).
    pub mod mcpgateway {
        /// The services only; their messages are [`super::cpex`]'s.
        pub mod plugins {
            include!(concat!(env!("OUT_DIR"), "/mcpgateway.plugins.rs"));
        }
    }
}

/// Which ContextForge generation's package name a peer speaks. The messages are the same; the
/// method paths (`/<package>.PluginService/<Method>`) are not, so the two cannot talk over gRPC
/// unless one side serves both (plugwire's server does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Era {
    /// ContextForge 1.1.0 / cpex: package `cpex`.
    #[default]
    Cpex,
    /// ContextForge 1.0.x: package `mcpgateway.plugins`.
    Mcpgateway,
}

impl Era {
    /// The proto package name.
    pub fn package(self) -> &'static str {
        match self {
            Era::Cpex => "cpex",
            Era::Mcpgateway => "mcpgateway.plugins",
        }
    }

    /// `/<package>.PluginService/<method>`, e.g. `/cpex.PluginService/InvokeHook`.
    pub fn plugin_method_path(self, method: &str) -> String {
        format!("/{}.PluginService/{method}", self.package())
    }

    /// `/<package>.Health/Check`.
    pub fn health_check_path(self) -> String {
        format!("/{}.Health/Check", self.package())
    }
}
