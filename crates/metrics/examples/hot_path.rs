//! Micro-check of the hook-call hot path: nanoseconds per recorded call, pre-registered
//! labels (`cargo run --release -p plugwire-metrics --example hot_path`). Not a benchmark of
//! the server: `make bench` measures that, with and without scraping.

use std::time::{Duration, Instant};

use plugwire_metrics::{Outcome, ServerMetrics};

fn main() {
    let m = ServerMetrics::new(true);
    let plugins = ["PIIFilterPlugin", "DenyListPlugin", "ReplaceBadWordsPlugin"];
    let hooks = ["tool_pre_invoke", "tool_post_invoke", "prompt_pre_fetch"];
    m.calls().preregister(
        plugins
            .iter()
            .flat_map(|p| hooks.iter().map(move |h| (*p, *h))),
    );
    let n = 2_000_000u64;
    let start = Instant::now();
    for i in 0..n {
        let p = plugins[(i % 3) as usize];
        let h = hooks[(i / 3 % 3) as usize];
        let o = if i % 7 == 0 {
            Outcome::Modified
        } else {
            Outcome::Continue
        };
        m.hook_call(p, h, o, None, Duration::from_micros(40 + i % 50));
    }
    let elapsed = start.elapsed();
    let total: u64 = plugins
        .iter()
        .flat_map(|p| hooks.iter().map(move |h| (*p, *h)))
        .flat_map(|(p, h)| Outcome::ALL.map(|o| m.calls().calls(p, h, o)))
        .sum();
    assert_eq!(total, n);
    println!(
        "{n} calls: {:.1} ns/call; exposition {} bytes",
        elapsed.as_nanos() as f64 / n as f64,
        m.encode().len()
    );
}
