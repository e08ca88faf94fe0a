//! Memory returned to the OS after large requests.
//!
//! mimalloc keeps the pages of freed memory for `MIMALLOC_PURGE_DELAY` ms (1000 by default), and
//! purges them only when the thread that owns them allocates again; after a burst of large
//! bodies, the worker threads go idle and the server keeps hundreds of MiB it no longer uses
//! (measured in docs/server.md, "Memory after large bodies"). With a delay of 0 freed pages go
//! back at once, for a little CPU per large free.
//!
//! mimalloc reads its options from the environment once, before `main`, and the only way to
//! set them from Rust is its C API (`unsafe`). So `plugwire serve` re-executes itself once, the
//! same binary with the same arguments and process id, with `MIMALLOC_PURGE_DELAY=0` added,
//! unless the variable is already set: an operator's value (any, including mimalloc's `1000`)
//! wins, and the re-executed process sees it set and goes on.

use std::os::unix::process::CommandExt;

use plugwire_env::Env;

/// mimalloc's purge delay variable (milliseconds).
pub const MIMALLOC_PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// Re-executes this process with `MIMALLOC_PURGE_DELAY=0` when the variable is unset. Returns
/// only when it did not (already set, or the executable cannot be found or run: the server
/// then runs with mimalloc's default, which is correct, only slower to give memory back).
pub fn purge_freed_memory_at_once(env: &dyn Env) {
    if env.var(MIMALLOC_PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only on failure.
    let err = cmd.args(args).env(MIMALLOC_PURGE_DELAY, "0").exec();
    eprintln!("plugwire: could not re-execute itself with {MIMALLOC_PURGE_DELAY}=0 ({err}); freed memory is returned to the OS more slowly");
}
