//! `plugwire serve`'s allocator settings as a process sees them: the purge delay it sets (an
//! operator's own value wins), and a burst's memory given back to the OS on an idle server.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

mod common;

use common::*;

fn stop(child: KillOnDrop) {
    signal(&child, "-TERM");
    assert!(wait_bounded(child).status.success());
}

fn environ(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    String::from_utf8_lossy(&raw).replace('\0', "\n")
}

/// Resident memory of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `plugwire serve` runs with `MIMALLOC_PURGE_DELAY=100`, in the same process (same pid, signals
/// still reach it); an operator's value is kept.
#[test]
fn serve_sets_the_purge_delay_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _sock) = serve_yaml_in(dir.path(), DENY_YAML, &[]);
    let env = environ(child.id());
    assert!(
        env.lines().any(|l| l == "MIMALLOC_PURGE_DELAY=100"),
        "{env}"
    );
    stop(child);

    let (child, _sock) = serve_yaml_in(dir.path(), DENY_YAML, &[("MIMALLOC_PURGE_DELAY", "1000")]);
    let env = environ(child.id());
    let delays: Vec<_> = env
        .lines()
        .filter(|l| l.starts_with("MIMALLOC_PURGE_DELAY="))
        .collect();
    assert_eq!(delays, ["MIMALLOC_PURGE_DELAY=1000"], "{env}");
    stop(child);
}

/// Four concurrent 12 MiB bodies (not JSON: each is read whole, refused and freed) raise the
/// resident memory; with no call after them, it falls back within seconds, because the server
/// runs mimalloc's purge once a second (an idle mimalloc never purges by itself).
#[test]
fn a_burst_of_large_bodies_is_given_back_on_an_idle_server() {
    const BODY: usize = 12 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = serve_yaml_in(dir.path(), DENY_YAML, &[]);
    let pid = child.id();
    let before = rss_kib(pid);
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                uds_request(&sock, "POST", "/mcp", &"x".repeat(BODY)).unwrap()
            })
        })
        .collect();
    // The highest RSS seen while the bodies are in flight: the burst did raise it.
    let mut peak = before;
    while !senders.iter().all(|s| s.is_finished()) {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(2));
    }
    peak = peak.max(rss_kib(pid));
    for sender in senders {
        let (status, body) = sender.join().unwrap();
        assert!(status.starts_with("HTTP/1.1 "), "{status}: {body}");
    }
    assert!(
        peak > before + 12 * 1024,
        "RSS {before} KiB -> at most {peak} KiB during the burst"
    );
    // At least three quarters of the growth goes back (some of it is the allocator's own
    // bookkeeping and pages kept by the worker threads).
    let given_back = |rss: u64| rss <= before + (peak - before) / 4;
    let start = Instant::now();
    let mut now = peak;
    while !given_back(now) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        now = rss_kib(pid);
    }
    assert!(
        given_back(now),
        "RSS {before} KiB idle, {peak} KiB at the burst's peak, {now} KiB 10 s later"
    );
    eprintln!(
        "RSS {before} KiB idle, {peak} KiB at the burst's peak, {now} KiB after {:?}",
        start.elapsed()
    );
    stop(child);
}
