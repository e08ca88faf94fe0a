//! Compiles the two copies of the plugin service (packages `cpex` and `mcpgateway.plugins`) with
//! protox, a protobuf compiler written in Rust, so a fresh machine needs no `protoc`.
//!
//! The messages are generated once, from the `cpex` file: the binary encoding carries no package
//! name, so both eras share one set of Rust types. The `mcpgateway.plugins` file contributes only
//! its service code (its method paths differ), pointed at those types with `extern_path`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/cpex/plugin_service.proto",
        "proto/mcpgateway/plugin_service.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_transport(false)
        .extern_path(".mcpgateway.plugins", "crate::pb::cpex")
        .compile_fds(descriptors)?;
    Ok(())
}
