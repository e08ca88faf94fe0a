//! Compiles the two copies of the plugin service (packages `cpex` and `mcpgateway.plugins`) with
//! protox, a protobuf compiler written in Rust, so a fresh machine needs no `protoc`.
//!
//! The messages are declared once, in the `cpex` file: the binary encoding carries no package
//! or message name, so both eras share one set of messages. The `mcpgateway.plugins` file
//! imports them and declares only its services (their method paths differ by package).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/cpex/plugin_service.proto",
        "proto/mcpgateway/plugin_service.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    // Every `Struct` field is our JSON-backed type: decoded from and encoded to the wire
    // without `prost_types::Struct` in between (see `json_struct`).
    tonic_prost_build::configure()
        .build_transport(false)
        .extern_path(".google.protobuf.Struct", "crate::json_struct::JsonStruct")
        .compile_fds(descriptors)?;
    Ok(())
}
