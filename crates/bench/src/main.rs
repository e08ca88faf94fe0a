//! `plugwire-bench`: `run` (the whole benchmark, what `make bench` calls), `load` (one
//! measurement against a URL) and `limit-server` (the limit, as its own process so its CPU can
//! be measured like any other server's).

/// With the `mimalloc` feature, the allocator the shipped `plugwire` binary uses.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    plugwire_bench::cli::main()
}
