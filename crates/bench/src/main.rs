//! `plugwire-bench`: `run` (the whole benchmark, what `make bench` calls), `load` (one
//! measurement against a URL) and `limit-server` (the limit, as its own process so its CPU can
//! be measured like any other server's).

fn main() -> std::process::ExitCode {
    plugwire_bench::cli::main()
}
