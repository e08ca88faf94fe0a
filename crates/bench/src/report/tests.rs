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
