//! Memory returned to the OS after large requests, without purging pages that are in use.
//!
//! mimalloc keeps the pages of freed memory for `MIMALLOC_PURGE_DELAY` ms (1000 by default), and
//! purges the expired ones only when some thread frees a page of its own; after a burst of
//! large bodies, the worker threads go idle and the server keeps hundreds of MiB it no longer
//! uses (measured in docs/server.md, "Memory after large bodies").
//!
//! A delay of 0 (what `plugwire serve` used before) purges a page the moment it is empty. That
//! returns a burst's memory at once, but under steady load it can also purge a page that the next
//! call fills again: hyper allocates each keep-alive connection's next 8 KiB read buffer while
//! the previous request still holds the old one, and at c=64 a page of such buffers can empty and
//! refill on every call. Then every call pays an `madvise` and a page fault, and the server
//! answers about half as many calls (docs/benchmarks.md, "The allocator's purge delay").
//!
//! So the delay is [`PURGE_DELAY_MS`] (a page that is refilled within it is never purged), and
//! [`return_freed_memory`] runs mimalloc's purge on an idle server: once a second it allocates
//! and frees one block above mimalloc's largest page size class. Such a block gets a page of its
//! own, freed back at once, and freeing a page is what makes mimalloc purge every range whose
//! delay has expired (its `mi_collect` C call would do the same, but needs `unsafe`).
//!
//! mimalloc reads its options from the environment once, before `main`, and the only way to
//! set them from Rust is its C API (`unsafe`). So `plugwire serve` re-executes itself once, the
//! same binary with the same arguments and process id, with `MIMALLOC_PURGE_DELAY` added,
//! unless the variable is already set: an operator's value (any, including mimalloc's `1000` or
//! `0`) wins, and the re-executed process sees it set and goes on.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use plugwire_env::Env;

/// mimalloc's purge delay variable (milliseconds).
pub const MIMALLOC_PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// The delay `plugwire serve` sets: long next to a call (tens of microseconds), short next to
/// how soon an operator looks at memory after a burst.
pub const PURGE_DELAY_MS: &str = "100";

/// How often [`return_freed_memory`] runs mimalloc's purge.
const PURGE_PERIOD: Duration = Duration::from_secs(1);

/// Above mimalloc's largest page size class (512 KiB), so the block gets a page of its own. It
/// is never written, so it costs no resident memory.
const PURGE_TRIGGER_BYTES: usize = 1 << 20;

/// Runs until the runtime stops: once per [`PURGE_PERIOD`], allocates and frees a block of
/// [`PURGE_TRIGGER_BYTES`], so freed memory whose delay has expired goes back to the OS even
/// when no call comes (see the module docs). Costs one timer wake-up a second.
pub async fn return_freed_memory() {
    let mut tick = tokio::time::interval(PURGE_PERIOD);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // `black_box`: an allocation that is freed unused may otherwise be removed entirely.
        drop(std::hint::black_box(Vec::<u8>::with_capacity(
            PURGE_TRIGGER_BYTES,
        )));
    }
}

/// Re-executes this process with `MIMALLOC_PURGE_DELAY` = [`PURGE_DELAY_MS`] when the variable
/// is unset. Returns only when it did not (already set, or the executable cannot be found or
/// run: the server then runs with mimalloc's default delay, which is correct; the purge task
/// still gives memory back on an idle server, only later).
pub fn set_purge_delay(env: &dyn Env) {
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
    let err = cmd
        .args(args)
        .env(MIMALLOC_PURGE_DELAY, PURGE_DELAY_MS)
        .exec();
    errln!("plugwire: could not re-execute itself with {MIMALLOC_PURGE_DELAY}={PURGE_DELAY_MS} ({err}); mimalloc's own delay applies");
}
