//! Build script of the `plugwire` binary: release builds link the functions that start-up and the
//! hook paths run next to each other, in the order of `link-order.txt` (`link-order-static.txt`
//! for the static binary; docs/decisions.md #96).
//!
//! Why: the kernel maps a binary's code in 64 KiB windows around every page a fault touches, so
//! 1.8 MB of start-up code spread over 11 MB of code kept about 8 MiB of it resident in an idle
//! server; laid out together it keeps about 2 MiB. The order is lld's `--symbol-ordering-file`,
//! which only rust-lld (the default linker of `x86_64-unknown-linux-gnu` since Rust 1.90) is sure
//! to understand here, so any other set-up links as before: a custom linker, another target, an
//! older compiler, or `PLUGWIRE_LINK_ORDER=off` (what `make link-order` profiles).

use std::env;
use std::process::Command;

/// The order of the dynamically linked binary (`cargo build --release -p plugwire`).
const DYNAMIC_ORDER: &str = "link-order.txt";
/// The order of the static binary (`make static`, deploy/Dockerfile).
const STATIC_ORDER: &str = "link-order-static.txt";

/// First Rust release whose `x86_64-unknown-linux-gnu` target links with rust-lld by default.
const RUST_LLD_DEFAULT_SINCE: (u32, u32) = (1, 90);

fn main() {
    println!("cargo:rerun-if-changed={DYNAMIC_ORDER}");
    println!("cargo:rerun-if-changed={STATIC_ORDER}");
    println!("cargo:rerun-if-env-changed=PLUGWIRE_LINK_ORDER");
    let Ok(manifest_dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    // A static build (`make static`, the image) compiles every crate with other flags, so its
    // symbols have other names: it has a list of its own.
    let is_static = env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|features| features.split(',').any(|f| f == "crt-static"));
    let order = if is_static {
        STATIC_ORDER
    } else {
        DYNAMIC_ORDER
    };
    let order_exists = std::path::Path::new(&manifest_dir).join(order).is_file();
    // The cheap checks first: only a release build that has a list asks for the compiler's version.
    if env::var("PROFILE").as_deref() == Ok("release")
        && env::var("PLUGWIRE_LINK_ORDER").as_deref() != Ok("off")
        && order_exists
        && links_with_default_rust_lld()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={manifest_dir}/{order}");
        // Functions the current code no longer has (the list is a profile of an earlier build).
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether this build links with the target's default linker and that default is rust-lld.
fn links_with_default_rust_lld() -> bool {
    let target_is_default_lld = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    // Cargo sets RUSTC_LINKER when a linker is configured; flags can also pick one.
    let linker_configured = env::var_os("RUSTC_LINKER").is_some()
        || env::var("CARGO_ENCODED_RUSTFLAGS")
            .unwrap_or_default()
            .split('\x1f')
            .any(|flag| {
                flag.contains("linker")
                    || flag.contains("fuse-ld")
                    || flag.contains("link-self-contained")
            });
    target_is_default_lld
        && !linker_configured
        && rustc_version().is_some_and(|version| version >= RUST_LLD_DEFAULT_SINCE)
}

/// (major, minor) of the compiler Cargo builds with, from `rustc -V` ("rustc 1.95.0 (...)").
fn rustc_version() -> Option<(u32, u32)> {
    let rustc = env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("-V").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let mut numbers = text.split_whitespace().nth(1)?.split('.');
    Some((
        numbers.next()?.parse().ok()?,
        numbers.next()?.split('-').next()?.parse().ok()?,
    ))
}
