//! plugwire-grpc: the protobuf wire of ContextForge's gRPC and raw Unix-socket plugin transports.
//!
//! No I/O lives here (like `plugwire-mcp` for MCP): the server and client crates own sockets,
//! TLS and HTTP/2; this crate owns what goes on the wire and how it maps to the JSON forms the
//! rest of plugwire speaks, so a hook gives the same result over every transport.
//!
//! # Layout
//! - [`pb`]: the generated messages and service code. `proto/cpex/plugin_service.proto`
//!   (ContextForge 1.1.0) and `proto/mcpgateway/plugin_service.proto` (1.0.x) differ only in
//!   the package name, which is part of the gRPC method path but not of the binary encoding, so
//!   the messages are generated once ([`pb::cpex`]) and both packages' services use them.
//! - [`json_struct`]: `google.protobuf.Struct` decoded from and encoded to the wire straight as a
//!   JSON object (every generated `Struct` field is a [`json_struct::JsonStruct`]).
//! - [`structs`]: the number policy (integral doubles come back as integers, see
//!   `docs/transports.md`) and the `Struct` ⇄ JSON object conversions.
//! - [`convert`]: proto messages ⇄ the JSON payload, context, config and result forms the
//!   framework and the MCP transport use.
//! - [`frame`]: the raw Unix-socket framing (4-byte big-endian length, at most 16 MiB) and the
//!   request-type sniffing order.
//! - [`authority`]: the Unix-socket `:authority` fix (grpcio sends the percent-encoded socket
//!   path, which the HTTP/2 server refuses), on top of [`hpack`], a small HPACK decoder and
//!   non-indexing encoder.
//! - [`Era`]: the two package names and their method paths.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod authority;
pub mod convert;
pub mod frame;
pub mod hpack;
mod huffman_table;
pub mod json_struct;
pub mod structs;

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
