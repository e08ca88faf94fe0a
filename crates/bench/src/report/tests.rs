//! The report's arithmetic and layout on hand-made measurements.

use super::format::{num, ratio};
use super::*;
use crate::measure::Sample;

fn sample(calls_per_sec: f64, p99_us: f64, server_cpu_us: f64) -> Sample {
    Sample {
        calls: 1000,
        calls_per_sec,
        p50_us: p99_us / 2.0,
        p99_us,
        server_cpu_us: Some(server_cpu_us),
        ..Sample::default()
    }
}

fn report(plugwire_rate: f64) -> Report {
    let args = <SuiteArgsParser as clap::Parser>::parse_from(["x"]).args;
    let machine = Machine {
        cores: 2,
        cpu_model: "test".into(),
        mem_total: "1 kB".into(),
        kernel: String::new(),
        load_before: String::new(),
        busy_before: None,
        load_after: String::new(),
        steal_during: None,
        date: String::new(),
        command: String::new(),
        duration: Duration::ZERO,
        versions: Vec::new(),
    };
    let mut r = Report::new(machine, args, 2);
    for (kind, rate) in [
        (Kind::Limit, 40_000.0),
        (Kind::Plugwire, plugwire_rate),
        (Kind::Python, 1_000.0),
    ] {
        let mut p = PairResult::new("gen", "gen", kind);
        for c in [1, 16, 64] {
            for _ in 0..3 {
                p.push(c, sample(rate, 250.0, 20.0));
            }
        }
        r.pairs.push(p);
    }
    r
}

#[derive(clap::Parser)]
struct SuiteArgsParser {
    #[command(flatten)]
    args: SuiteArgs,
}

fn status_of(r: &Report, prefix: &str) -> String {
    r.targets()
        .into_iter()
        .find(|(what, _, _)| what.starts_with(prefix))
        .map(|(_, value, s)| format!("{value} {}", s.text()))
        .unwrap()
}

#[test]
fn targets_follow_the_measured_ratios() {
    let fast = report(30_000.0);
    assert_eq!(
        status_of(&fast, "Same load generator, c=16"),
        "30× **missed**"
    );
    assert_eq!(status_of(&fast, "c=16: within 1.5×"), "1.33× **met**");
    let faster = report(45_000.0);
    assert_eq!(
        status_of(&faster, "Same load generator, c=16"),
        "45× **met**"
    );
    assert_eq!(
        status_of(&fast, "p99 at c=1"),
        "0.250 ms (the limit server: 0.250 ms) **met**"
    );
    let mut late = report(30_000.0);
    for series in late
        .pairs
        .iter_mut()
        .filter(|p| p.kind == Kind::Plugwire)
        .flat_map(|p| p.series.iter_mut())
    {
        series.samples.iter_mut().for_each(|s| s.p99_us = 420.0);
    }
    assert_eq!(
        status_of(&late, "p99 at c=1"),
        "0.420 ms (the limit server: 0.250 ms) **missed**"
    );
    let slow = report(20_000.0);
    assert_eq!(status_of(&slow, "c=1: within 1.5×"), "2.00× **missed**");
    assert!(status_of(&slow, "Python client, c=16: ≥ 2.5×").contains("not measured"));
}

#[test]
fn rendered_report_has_every_table_and_no_placeholder_numbers() {
    let text = report(30_000.0).render();
    for heading in [
        "## Machine and command",
        "## Targets (issue 12)",
        "## Hook round trips",
        "## Server footprint",
        "## TLS handshakes",
        "## `certs all`",
    ] {
        assert!(text.contains(heading), "missing {heading}");
    }
    assert!(
        text.contains("| gen → plugwire serve | 16 | 30,000 |"),
        "{text}"
    );
}

#[test]
fn numbers_are_grouped_and_rounded() {
    assert_eq!(num(41_496.4), "41,496");
    assert_eq!(num(12.34), "12.3");
    assert_eq!(num(0.456), "0.46");
    assert_eq!(ratio(Some(58.3)), "58×");
    assert_eq!(ratio(Some(1.14)), "1.14×");
    assert_eq!(ratio(None), "—");
}

/// Three runs per concurrency with the given calls/s and server CPU of each run.
fn pair(key: &str, kind: Kind, runs: &[(f64, f64)]) -> PairResult {
    let mut p = PairResult::new(key, key, kind);
    for c in [1, 16, 64] {
        for &(rate, cpu) in runs {
            p.push(c, sample(rate, 250.0, cpu));
        }
    }
    p
}

fn issue_status(r: &Report, prefix: &str) -> String {
    r.issue_targets()
        .into_iter()
        .find(|(_, what, _, _)| what.starts_with(prefix))
        .map(|(_, _, value, s)| format!("{value} {}", s.text()))
        .unwrap_or_else(|| panic!("no target {prefix}"))
}

/// Each (target prefix, "value status") pair, as the report gives it.
fn assert_statuses(r: &Report, expected: &[(&str, &str)]) {
    for (prefix, want) in expected {
        assert_eq!(&issue_status(r, prefix), want, "{prefix}");
    }
}

#[test]
fn transport_targets_compare_plugwire_with_the_python_servers() {
    let mut r = report(30_000.0);
    r.pairs
        .push(pair("pyc", Kind::PlugwireGrpc, &[(900.0, 40.0)]));
    r.pairs
        .push(pair("pyc", Kind::PythonGrpc, &[(300.0, 800.0)]));
    r.pairs
        .push(pair("pyc", Kind::PlugwireUnix, &[(1500.0, 30.0)]));
    r.pairs
        .push(pair("pyc", Kind::PythonUnix, &[(1000.0, 120.0)]));
    r.pairs
        .push(pair("pwc", Kind::Plugwire, &[(20_000.0, 25.0)]));
    r.pairs
        .push(pair("pwc", Kind::PlugwireGrpc, &[(15_000.0, 30.0)]));
    r.pairs
        .push(pair("pwc", Kind::PlugwireUnix, &[(25_000.0, 15.0)]));
    let grpc = "Python client over gRPC (mTLS), c=16";
    assert_eq!(issue_status(&r, &format!("{grpc}: ≥ 2×")), "3.00× **met**");
    assert_eq!(issue_status(&r, &format!("{grpc}: ≥ 10×")), "20× **met**");
    let raw = "Python client over raw socket, c=16";
    assert_eq!(
        issue_status(&r, &format!("{raw}: ≥ 2×")),
        "1.50× **missed**",
        "no ceiling without the client's CPU"
    );
    for pair in r.pairs.iter_mut().filter(|p| p.kind == Kind::PlugwireUnix) {
        for series in &mut pair.series {
            for s in &mut series.samples {
                s.client_cpu_us = Some(625.0);
            }
        }
    }
    assert_eq!(
        issue_status(&r, &format!("{raw}: ≥ 2×")),
        "1.50× (at most 1.60× with any server: the Python client's event loop, 625 µs of CPU per call on its one thread; under 2×, so out of reach of any server in this run) **missed**",
        "the raw client's process CPU stands for its loop in reports without the loop's thread"
    );
    assert_eq!(
        issue_status(&r, &format!("{grpc}: ≥ 2×")),
        "3.00× **met**",
        "gRPC's process CPU is not its loop's: no bound without the thread"
    );
    for pair in r.pairs.iter_mut().filter(|p| p.kind == Kind::PlugwireGrpc) {
        for series in &mut pair.series {
            for s in &mut series.samples {
                s.client_cpu_us = Some(1400.0);
                s.client_loop_cpu_us = Some(1000.0);
            }
        }
    }
    assert_eq!(
        issue_status(&r, &format!("{grpc}: ≥ 2×")),
        "3.00× (at most 3.33× with any server: the Python client's event loop, 1000 µs of CPU per call on its one thread) **met**",
        "the ceiling comes from the loop's thread, not the process"
    );
    assert_eq!(
        issue_status(&r, &format!("{raw}: ≥ 10×")),
        "4.00× **missed**"
    );
    assert_eq!(
        issue_status(
            &r,
            "plugwire client, c=16: plugwire serve's CPU per call over gRPC mTLS"
        ),
        "30.0 vs 25.0 µs **missed**"
    );
    assert_eq!(
        issue_status(
            &r,
            "plugwire client, c=16: plugwire serve's CPU per call over raw socket"
        ),
        "15.0 vs 25.0 µs **met**"
    );
    assert!(issue_status(
        &r,
        "plugwire client, c=16: plugwire serve's CPU per call over gRPC UDS"
    )
    .contains("not measured"));
}

#[test]
fn metrics_cost_counts_only_beyond_the_runs_noise() {
    let mut r = report(30_000.0);
    // Off: 30,000 ± 1,500 (spread 10 %); on: 28,000 (−6.7 %, inside); scraped: 25,000 (−16.7 %).
    r.pairs
        .retain(|p| !(p.key == "gen" && p.kind == Kind::Plugwire));
    r.pairs.push(pair(
        "gen",
        Kind::PlugwireNoMetrics,
        &[(28_500.0, 20.0), (30_000.0, 20.0), (31_500.0, 20.0)],
    ));
    r.pairs.push(pair(
        "gen",
        Kind::Plugwire,
        &[(28_000.0, 21.0), (28_000.0, 21.0), (28_000.0, 21.0)],
    ));
    r.pairs.push(pair(
        "gen-scrape",
        Kind::Plugwire,
        &[(25_000.0, 20.0), (25_000.0, 20.0), (25_000.0, 20.0)],
    ));
    assert_eq!(
        issue_status(&r, "c=16, metrics on: calls/s"),
        "28,000 vs 30,000 (cost +6.7 %, noise ±10.0 %) **met**"
    );
    assert_eq!(
        issue_status(&r, "c=16, metrics on and scraped every 100 ms: calls/s"),
        "25,000 vs 30,000 (cost +16.7 %, noise ±10.0 %) **missed**"
    );
    // CPU: no spread in either series, so any cost beyond 0 is outside the noise.
    assert!(issue_status(&r, "c=16, metrics on: server CPU per call").ends_with("**missed**"));
    assert!(issue_status(
        &r,
        "c=16, metrics on and scraped every 100 ms: server CPU per call"
    )
    .ends_with("**met**"));
}

#[test]
fn client_and_first_call_targets() {
    let mut r = report(30_000.0);
    let mut pwc = PairResult::new("pwc", "plugwire client", Kind::Plugwire);
    for (c, rate) in [(1, 5_000.0), (16, 24_000.0), (64, 20_000.0)] {
        pwc.push(
            c,
            Sample {
                client_cpu_us: Some(30.0),
                ..sample(rate, 250.0, 20.0)
            },
        );
    }
    r.pairs.push(pwc);
    for p in r.pairs.iter_mut().filter(|p| p.key == "gen") {
        for s in &mut p.series {
            for x in &mut s.samples {
                x.client_cpu_us = Some(10.0);
            }
        }
    }
    assert_statuses(
        &r,
        &[
            (
                "plugwire client → plugwire serve, c=16: ≥ 0.7×",
                "0.80× **met**",
            ),
            (
                "plugwire client → plugwire serve, c=64: ≥ 0.7×",
                "0.67× **missed**",
            ),
            ("plugwire client, c=16: client CPU", "3.00× **missed**"),
            (
                "plugwire client → plugwire serve: no drop",
                "24,000 → 20,000 **missed**",
            ),
            ("c=1: limit ÷ plugwire serve ≤ 1.3×", "1.33× **missed**"),
        ],
    );
    assert!(issue_status(&r, "plugwire client → Python runtime, c=16").contains("not measured"));
    // Against the Python runtime (1,000 calls/s from the load generator): c=1 as fast, c=16 a bit
    // under the filing-time ratio (0.96) but within its own spread, c=64 under it beyond noise.
    let mut to_python = PairResult::new("pwc", "plugwire client", Kind::Python);
    for (c, rates) in [
        (1, [1_000.0; 3]),
        (16, [900.0, 950.0, 1_000.0]),
        (64, [900.0; 3]),
    ] {
        for rate in rates {
            to_python.push(c, sample(rate, 250.0, 20.0));
        }
    }
    r.pairs.push(to_python);
    assert_statuses(
        &r,
        &[
            (
                "plugwire client → Python runtime, c=1:",
                "1.00× (noise ±0.0 %) **met**",
            ),
            (
                "plugwire client → Python runtime, c=16:",
                "0.95× (noise ±10.5 %) **met**",
            ),
            (
                "plugwire client → Python runtime, c=64:",
                "0.90× (noise ±0.0 %) **missed**",
            ),
        ],
    );
    assert!(issue_status(&r, "First hook call").contains("not measured"));
    r.first_call = Some(FirstCall {
        first_us: vec![9_000.0, 7_000.0, 8_000.0],
        first_call_only_us: vec![300.0; 3],
        warm_us: vec![5_000.0; 3],
        warm_call_only_us: vec![200.0; 3],
        warm_calls: 20,
        error: None,
    });
    assert_eq!(
        issue_status(&r, "First hook call"),
        "8,000 vs 5,000 µs (1.60×) **met**"
    );
    let text = r.render();
    assert!(text.contains("## First call after start"), "{text}");
    assert!(
        text.contains("| median | 8,000 | 300 | 5,000 | 200 |"),
        "{text}"
    );
}

#[test]
fn charts_plot_the_reports_medians() {
    let mut r = report(30_000.0);
    r.pairs.push(pair(
        "pwc",
        Kind::PlugwireGrpc,
        &[(14_000.0, 30.0), (15_000.0, 31.0), (16_000.0, 32.0)],
    ));
    r.rss_traces.push(RssTrace {
        kind: Kind::Plugwire,
        points: vec![(0.0, 8192), (0.25, 9216)],
    });
    let charts = r.charts();
    let stems: Vec<&str> = charts.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        stems,
        [
            "mcp-calls",
            "mcp-server-cpu",
            "transports-calls",
            "transports-server-cpu",
            "rss"
        ]
    );
    let svg = charts[2].1.to_svg();
    // The median of the three runs, at every concurrency.
    assert_eq!(
        svg.matches("<title>pwc → plugwire serve, gRPC mTLS: 15,000</title>")
            .count(),
        3,
        "{svg}"
    );
    let cpu = charts[1].1.to_svg();
    assert_eq!(cpu.matches("gen → plugwire serve: 20.0</title>").count(), 3);
    let rss = charts[4].1.to_svg();
    assert!(rss.contains("plugwire serve: 9.00</title>"), "{rss}");
    let text = r.render();
    assert!(text.contains(
        "![gRPC and the raw socket: calls/s by concurrency](bench/transports-calls.svg)"
    ));
}

/// The report names the allocator of each measured Rust process: the harness's is the build's.
#[test]
fn the_machine_table_names_the_allocators() {
    let mut o = String::new();
    report(1000.0).render_machine(&mut o);
    let row = o
        .lines()
        .find(|l| l.starts_with("| allocators |"))
        .expect("an allocators row");
    assert!(row.contains("`plugwire serve`: mimalloc"), "{row}");
    let harness = if cfg!(feature = "mimalloc") {
        "limit server): mimalloc |"
    } else {
        "limit server): glibc malloc |"
    };
    assert!(row.ends_with(harness), "{row}");
}
