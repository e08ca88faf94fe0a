//! The issues' targets against this run's measured ratios.

use super::format::{div, mib, opt, ratio, Status};
use super::{Footprint, Report};
use crate::args::Kind;
use crate::measure::Series;

impl Report {
    pub(super) fn targets(&self) -> Vec<(String, String, Status)> {
        let mut t = Vec::new();
        let c16 = 16;
        let r = div(
            self.rate("gen", Kind::Plugwire, c16),
            self.rate("gen", Kind::Python, c16),
        );
        t.push((
            "Same load generator, c=16: plugwire serve ≥ 40× the Python runtime's calls/s".into(),
            ratio(r),
            Status::from(r.map(|r| r >= 40.0), "a server or c=16 missing"),
        ));
        let p99 = self
            .series("gen", Kind::Plugwire, 1)
            .and_then(Series::p99_us);
        t.push((
            "p99 at c=1 under 0.3 ms on loopback (load generator → plugwire serve)".into(),
            p99.map_or("—".into(), |v| format!("{:.3} ms", v / 1e3)),
            Status::from(p99.map(|v| v < 300.0), "c=1 not run"),
        ));
        for &c in &self.args.concurrency {
            let r = div(
                self.rate("pyc", Kind::Plugwire, c),
                self.rate("pyc", Kind::Python, c),
            );
            t.push((
                format!("Python client, c={c}: ≥ 2.5× calls/s from plugwire serve than from its own runtime"),
                ratio(r),
                Status::from(r.map(|r| r >= 2.5), "Python pairs not run"),
            ));
            let cpu = div(
                self.series("pyc", Kind::Python, c)
                    .and_then(Series::server_cpu_us),
                self.series("pyc", Kind::Plugwire, c)
                    .and_then(Series::server_cpu_us),
            );
            t.push((
                format!("Python client, c={c}: ≥ 20× less server CPU per call"),
                ratio(cpu),
                Status::from(cpu.map(|r| r >= 20.0), "Python pairs not run"),
            ));
        }
        for &c in &self.args.concurrency {
            let r = div(
                self.rate("gen", Kind::Limit, c),
                self.rate("gen", Kind::Plugwire, c),
            );
            t.push((
                format!("c={c}: within 1.5× of the limit server's calls/s (limit ÷ plugwire)"),
                ratio(r),
                Status::from(r.map(|r| r <= 1.5), "a server missing"),
            ));
        }
        let fp = self.footprint(Kind::Plugwire);
        let idle = fp.and_then(|f| f.rss_idle_kib);
        t.push((
            "Idle RSS under 10 MiB".into(),
            mib(idle),
            Status::from(idle.map(|k| k < 10 * 1024), "server did not start"),
        ));
        let peak = fp.and_then(|f| f.rss_peak_kib);
        let flat = match (idle, peak) {
            (Some(i), Some(p)) => Some(p <= 2 * i),
            _ => None,
        };
        t.push((
            "RSS flat under load (peak while every pair ran ≤ 2× idle)".into(),
            format!("{} → {}", mib(idle), mib(peak)),
            Status::from(flat, "server did not start"),
        ));
        let start = fp.and_then(Footprint::start_ms);
        t.push((
            "Start to healthy under 50 ms (median)".into(),
            start.map_or("—".into(), |v| format!("{v:.1} ms")),
            Status::from(start.map(|v| v < 50.0), "server did not start"),
        ));
        let ours = self.certs_ms("plugwire", "rsa4096");
        let theirs = self.certs_ms("openssl", "rsa4096");
        t.push((
            "`certs all` (CA, gateway, 2 plugins), RSA-4096: at least as fast as openssl sequentially".into(),
            format!("{} ms vs {} ms", opt(ours), opt(theirs)),
            Status::from(
                ours.zip(theirs).map(|(a, b)| a <= b),
                "RSA-4096 timing not run",
            ),
        ));
        let ec = self.certs_ms("plugwire", "ecdsa-p256");
        t.push((
            "`certs all`, ECDSA P-256: under 50 ms".into(),
            format!("{} ms", opt(ec)),
            Status::from(ec.map(|v| v < 50.0), "ECDSA timing failed"),
        ));
        t
    }
}
