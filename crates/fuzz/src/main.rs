//! `plugwire-fuzz run [--seconds N] [TARGET...]`: mutates each target's corpus for N seconds
//! (default 60, or FUZZ_SECONDS); exit 1 when an input crashed a target (it is saved to the
//! corpus). `plugwire-fuzz list` prints the targets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use plugwire_fuzz::{fuzz, Targets, TARGETS};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(60);
    let mut names = Vec::new();
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("list") => {
            println!("{}", TARGETS.join("\n"));
            return ExitCode::SUCCESS;
        }
        Some("run") => {}
        _ => {
            eprintln!("usage: plugwire-fuzz run [--seconds N] [TARGET...] | list");
            return ExitCode::from(2);
        }
    }
    while let Some(a) = it.next() {
        if a == "--seconds" {
            match it.next().and_then(|v| v.parse().ok()) {
                Some(n) => seconds = n,
                None => {
                    eprintln!("--seconds needs a whole number");
                    return ExitCode::from(2);
                }
            }
        } else if TARGETS.contains(&a.as_str()) {
            names.push(a.clone());
        } else {
            eprintln!("unknown target {a:?}; targets: {}", TARGETS.join(", "));
            return ExitCode::from(2);
        }
    }
    if names.is_empty() {
        names = TARGETS.iter().map(|s| s.to_string()).collect();
    }
    let targets = match Targets::new() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("plugwire-fuzz: cannot set the targets up: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = std::env::var_os("FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut failed = false;
    for name in &names {
        let stats = fuzz::run(
            &targets,
            name,
            &root.join(name),
            Duration::from_secs(seconds),
            seed,
        );
        println!(
            "{name}: {} inputs in {seconds}s (seed {seed}), {} crash(es)",
            stats.execs,
            stats.crashes.len()
        );
        for c in &stats.crashes {
            println!("  kept {}", c.display());
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
