//! `docs/benchmarks.md`: every figure of one run, the ratios the targets talk about, and the
//! targets marked met or missed. Only measured values are printed; a figure that could not be
//! measured says so.

use std::fmt::Write as _;
use std::time::Duration;

use crate::args::{Kind, SuiteArgs};
use crate::measure::{Sample, Series};
use crate::stats::median;

/// The machine and the invocation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub mem_total: String,
    pub kernel: String,
    pub load_before: String,
    /// Share of all CPUs busy during the second before the run (other processes).
    pub busy_before: Option<f64>,
    pub load_after: String,
    pub date: String,
    pub command: String,
    pub duration: Duration,
    pub versions: Vec<(String, String)>,
}

/// Wall-clock times of one certificate tool for one key type.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CertsTiming {
    pub tool: String,
    pub key_type: String,
    pub runs: Vec<Duration>,
    pub error: Option<String>,
}

impl CertsTiming {
    pub fn new(tool: &str, key_type: &str) -> Self {
        Self {
            tool: tool.into(),
            key_type: key_type.into(),
            runs: Vec::new(),
            error: None,
        }
    }
    pub fn median_ms(&self) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let m = median(&v);
        m.is_finite().then_some(m)
    }
}

/// Start-up and memory of one server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Footprint {
    pub kind: Kind,
    pub start_to_healthy: Vec<Duration>,
    pub rss_idle_kib: Option<u64>,
    pub rss_peak_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub error: Option<String>,
}

impl Footprint {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            start_to_healthy: Vec::new(),
            rss_idle_kib: None,
            rss_peak_kib: None,
            rss_after_kib: None,
            error: None,
        }
    }
    pub fn start_ms(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .start_to_healthy
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        let m = median(&v);
        m.is_finite().then_some(m)
    }
}

/// New connection per call against one server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Handshakes {
    pub kind: Kind,
    /// Key type of both sides' certificates.
    pub key_type: String,
    pub series: Series,
}

/// One client → server pair at every concurrency.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PairResult {
    /// `gen` (load generator), `pwc` (plugwire client), `pyc` (Python client).
    pub key: String,
    pub client: String,
    pub kind: Kind,
    pub series: Vec<Series>,
    pub error: Option<String>,
}

impl PairResult {
    pub fn new(key: &str, client: &str, kind: Kind) -> Self {
        Self {
            key: key.into(),
            client: client.into(),
            kind,
            series: Vec::new(),
            error: None,
        }
    }
    pub fn push(&mut self, concurrency: usize, sample: Sample) {
        match self
            .series
            .iter_mut()
            .find(|s| s.concurrency == concurrency)
        {
            Some(s) => s.samples.push(sample),
            None => self.series.push(Series {
                concurrency,
                samples: vec![sample],
            }),
        }
    }
    pub fn at(&self, concurrency: usize) -> Option<&Series> {
        self.series.iter().find(|s| s.concurrency == concurrency)
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub args: SuiteArgs,
    pub threads: usize,
    pub server_key_type: String,
    pub certs: Vec<CertsTiming>,
    pub footprints: Vec<Footprint>,
    pub handshakes: Vec<Handshakes>,
    pub pairs: Vec<PairResult>,
    /// `perf report` of an extra c=16 run per Rust server.
    pub profiles: Vec<(Kind, String)>,
    pub notes: Vec<String>,
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), num)
}

fn count(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    })
}

fn ratio(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or("—".into(), |x| {
        if x >= 10.0 {
            format!("{x:.0}×")
        } else {
            format!("{x:.2}×")
        }
    })
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

enum Status {
    Met,
    Missed,
    NotMeasured(String),
}

impl Status {
    fn from(measured: Option<bool>, why: &str) -> Self {
        match measured {
            Some(true) => Status::Met,
            Some(false) => Status::Missed,
            None => Status::NotMeasured(why.into()),
        }
    }
    fn text(&self) -> String {
        match self {
            Status::Met => "**met**".into(),
            Status::Missed => "**missed**".into(),
            Status::NotMeasured(why) => format!("not measured ({why})"),
        }
    }
}

impl Report {
    pub fn new(machine: Machine, args: SuiteArgs, threads: usize) -> Self {
        Self {
            machine,
            args,
            threads,
            server_key_type: String::new(),
            certs: Vec::new(),
            footprints: Vec::new(),
            handshakes: Vec::new(),
            pairs: Vec::new(),
            profiles: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn pair(&self, key: &str, kind: Kind) -> Option<&PairResult> {
        self.pairs.iter().find(|p| p.key == key && p.kind == kind)
    }

    fn series(&self, key: &str, kind: Kind, c: usize) -> Option<&Series> {
        self.pair(key, kind)?.at(c)
    }

    fn rate(&self, key: &str, kind: Kind, c: usize) -> Option<f64> {
        self.series(key, kind, c)?.calls_per_sec()
    }

    fn footprint(&self, kind: Kind) -> Option<&Footprint> {
        self.footprints.iter().find(|f| f.kind == kind)
    }

    fn certs_ms(&self, tool_prefix: &str, key_type: &str) -> Option<f64> {
        self.certs
            .iter()
            .find(|c| c.tool.starts_with(tool_prefix) && c.key_type == key_type)?
            .median_ms()
    }

    /// True when any measurement failed or saw errors.
    pub fn has_errors(&self) -> bool {
        self.pairs
            .iter()
            .any(|p| p.error.is_some() || p.series.iter().any(|s| s.errors() > 0))
            || self.footprints.iter().any(|f| f.error.is_some())
            || self.handshakes.iter().any(|h| h.series.errors() > 0)
    }

    fn targets(&self) -> Vec<(String, String, Status)> {
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

    /// The Markdown document.
    pub fn render(&self) -> String {
        let mut o = String::new();
        self.render_intro(&mut o);
        self.render_machine(&mut o);
        self.render_targets(&mut o);
        self.render_round_trips(&mut o);
        self.render_round_trip_errors(&mut o);
        self.render_footprint(&mut o);
        self.render_handshakes(&mut o);
        self.render_certs(&mut o);
        self.render_profiles(&mut o);
        self.render_closing(&mut o);
        o
    }

    /// The title, and the smoke-run warning that the numbers mean nothing.
    fn render_intro(&self, o: &mut String) {
        let m = &self.machine;
        let a = &self.args;
        let _ = writeln!(o, "# Benchmarks\n");
        let _ = writeln!(
            o,
            "Written by `make bench` on {}. Every figure below was measured by that run on this \
             machine; none is typed in. Run `make bench` again to refresh this file.\n",
            m.date
        );
        if a.smoke {
            let _ = writeln!(o, "> **Smoke run**: a handful of calls to check the harness; the numbers mean nothing.\n");
        }
    }

    /// Where and how the figures were taken: without it no figure can be compared with another run.
    fn render_machine(&self, o: &mut String) {
        let m = &self.machine;
        let a = &self.args;
        let _ = writeln!(o, "## Machine and command\n");
        let _ = writeln!(o, "| | |\n|---|---|");
        let _ = writeln!(o, "| date | {} |", m.date);
        let _ = writeln!(o, "| cores (nproc) | {} |", m.cores);
        let _ = writeln!(o, "| CPU | {} |", m.cpu_model);
        let _ = writeln!(o, "| memory (MemTotal) | {} |", m.mem_total);
        let _ = writeln!(o, "| kernel | {} |", m.kernel);
        let _ = writeln!(
            o,
            "| load average before → after | {} → {} |",
            m.load_before, m.load_after
        );
        let _ = writeln!(
            o,
            "| CPU busy (all processes) in the second before the run | {} |",
            m.busy_before
                .map_or("—".into(), |b| format!("{:.0} % of all cores", b * 100.0))
        );
        let _ = writeln!(o, "| command | {} |", m.command);
        let _ = writeln!(o, "| duration | {:.0} s |", m.duration.as_secs_f64());
        for (k, v) in &m.versions {
            let _ = writeln!(o, "| {k} | {} |", v.replace('\n', " "));
        }
        let _ = writeln!(
            o,
            "| server certificates | `{}` (mTLS, client certificate required) |",
            self.server_key_type
        );
        let _ = writeln!(
            o,
            "| parameters | {} runs per figure (medians); calls per run: {} to Rust servers, {} to the Python runtime, {} from the Python client; {} new connections per handshake run at c={}; load generator on {} tokio threads |\n",
            a.runs, a.calls_fast, a.calls_slow, a.calls_python_client, a.handshakes, a.handshake_concurrency, self.threads
        );
    }

    /// The issue's targets against the measured ratios.
    fn render_targets(&self, o: &mut String) {
        let _ = writeln!(o, "## Targets (issue 12)\n");
        let _ = writeln!(o, "| target | measured | status |\n|---|---|---|");
        for (what, value, status) in self.targets() {
            let _ = writeln!(o, "| {what} | {value} | {} |", status.text());
        }
        let _ = writeln!(o);
    }

    /// Calls per second, latency and CPU per call of every client/server pair at every concurrency.
    fn render_round_trips(&self, o: &mut String) {
        let a = &self.args;
        let _ = writeln!(o, "## Hook round trips\n");
        let _ = writeln!(
            o,
            "`tools/call invoke_hook`, `tool_pre_invoke` through SearchReplace, a {}-byte request, over mTLS on \
             loopback with kept-alive connections. Each cell is the median of {} runs. \
             *× Python* compares calls/s with the Python runtime driven by the same client family: the load \
             generator rows with *load generator → Python runtime*, the gateway-client rows with *Python client → \
             Python runtime* (what a ContextForge gateway gets today). *limit ÷* is the limit server's calls/s over \
             the row's at the same concurrency. TCP connections: the most one run opened, by the client's own count / \
             by the kernel's (`PassiveOpens` in `/proc/net/snmp`, host-wide), warm-up included; the runs go \
             c=1, 16, 64 and repeat, so a pooled client opens its connections in the first run and reuses them.\n",
            crate::payload::RequestTemplate::invoke_hook().with_id(1).len(),
            a.runs
        );
        let _ = writeln!(
            o,
            "| client → server | c | calls/s | p50 µs | p99 µs | server CPU µs/call | client CPU µs/call | TCP connections | errors | × Python | limit ÷ |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for p in &self.pairs {
            if let Some(e) = &p.error {
                let _ = writeln!(
                    o,
                    "| {} → {} | | failed: {} | | | | | | | | |",
                    p.client,
                    p.kind.label(),
                    e.replace('\n', " ").replace('|', "/")
                );
                continue;
            }
            for s in &p.series {
                let c = s.concurrency;
                let reference = match p.key.as_str() {
                    "gen" => self.rate("gen", Kind::Python, c),
                    _ => self.rate("pyc", Kind::Python, c),
                };
                let limit = self.rate("gen", Kind::Limit, c);
                let rate = s.calls_per_sec();
                let _ = writeln!(
                    o,
                    "| {} → {} | {c} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} |",
                    p.client,
                    p.kind.label(),
                    opt(rate),
                    opt(s.p50_us()),
                    opt(s.p99_us()),
                    opt(s.server_cpu_us()),
                    opt(s.client_cpu_us()),
                    count(s.connections()),
                    count(s.tcp_opened()),
                    s.errors(),
                    ratio(div(rate, reference)),
                    if p.kind == Kind::Limit {
                        "1.00×".into()
                    } else {
                        ratio(div(limit, rate))
                    },
                );
            }
        }
        let _ = writeln!(o);
    }

    /// The failed calls of the round trips, so a fast figure built on errors is visible.
    fn render_round_trip_errors(&self, o: &mut String) {
        let errors: Vec<String> = self
            .pairs
            .iter()
            .flat_map(|p| {
                p.series.iter().filter_map(move |s| {
                    s.first_error().map(|e| {
                        format!(
                            "{} → {}, c={}: {e}",
                            p.client,
                            p.kind.label(),
                            s.concurrency
                        )
                    })
                })
            })
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(o, "First error of each series that had errors:\n");
            for e in errors {
                let _ = writeln!(o, "- {}", e.replace('\n', " "));
            }
            let _ = writeln!(o);
        }
    }

    /// Memory and start-up time of each server.
    fn render_footprint(&self, o: &mut String) {
        let _ = writeln!(o, "## Server footprint\n");
        let _ = writeln!(
            o,
            "RSS from `/proc/PID/status` (VmRSS): idle is 0.5 s after the server became healthy, before any call; \
             peak is the largest value sampled every 10 ms while all the pairs above ran; after is 0.5 s after the \
             last of them. Start to healthy: from `spawn` to the first `200` from `/health` on port+1000 (polled \
             every millisecond); median, min and max of the starts.\n"
        );
        let _ = writeln!(o, "| server | RSS idle | RSS peak under load | RSS after load | start to healthy (median) | min – max | starts |\n|---|---|---|---|---|---|---|");
        for f in &self.footprints {
            if let Some(e) = &f.error {
                let _ = writeln!(
                    o,
                    "| {} | failed: {} | | | | | |",
                    f.kind.label(),
                    e.replace('\n', " ").replace('|', "/")
                );
                continue;
            }
            let min = f
                .start_to_healthy
                .iter()
                .min()
                .map(|d| d.as_secs_f64() * 1e3);
            let max = f
                .start_to_healthy
                .iter()
                .max()
                .map(|d| d.as_secs_f64() * 1e3);
            let start = if f.kind == Kind::Limit {
                ("n/a".to_string(), "n/a".to_string())
            } else {
                (
                    f.start_ms().map_or("—".into(), |v| format!("{v:.1} ms")),
                    format!("{} – {} ms", opt(min), opt(max)),
                )
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.kind.label(),
                mib(f.rss_idle_kib),
                mib(f.rss_peak_kib),
                mib(f.rss_after_kib),
                start.0,
                start.1,
                f.start_to_healthy.len()
            );
        }
        let _ = writeln!(o);
    }

    /// New-connection cost, separate from the kept-alive round trips.
    fn render_handshakes(&self, o: &mut String) {
        let a = &self.args;
        let _ = writeln!(o, "## TLS handshakes\n");
        let _ = writeln!(
            o,
            "The load generator opens a new TCP connection and does a full mTLS handshake for every call (then one \
             `invoke_hook`); session resumption is off in the client, so each is a full handshake. {} calls at c={}, \
             median of {} runs, with the certificates of `plugwire certs all` of each \
             key type (servers restarted for the second). Both ends sign with their keys, so with RSA-4096 the client \
             side costs about as much as the server.\n",
            a.handshakes, a.handshake_concurrency, a.runs
        );
        let _ = writeln!(o, "| server | certificates | handshakes/s | p50 µs | p99 µs | server CPU µs/handshake | connections | errors |\n|---|---|---|---|---|---|---|---|");
        for h in &self.handshakes {
            let s = &h.series;
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                h.kind.label(),
                h.key_type,
                opt(s.calls_per_sec()),
                opt(s.p50_us()),
                opt(s.p99_us()),
                opt(s.server_cpu_us()),
                count(s.connections()),
                s.errors()
            );
        }
        let _ = writeln!(o);
    }

    /// `certs all` against the openssl script it replaces.
    fn render_certs(&self, o: &mut String) {
        let _ = writeln!(o, "## `certs all`: CA, gateway and two plugins\n");
        let _ = writeln!(
            o,
            "Wall-clock time of the whole command, in a directory without `plugins/external/config.yaml` (so \
             `example-plugin-a` and `example-plugin-b`), against `scripts/bench/openssl-certs.sh`: the openssl \
             commands of the ContextForge Makefile run one after the other, with the same extensions.\n"
        );
        let _ = writeln!(
            o,
            "| tool | key type | median | runs | each run (ms) |\n|---|---|---|---|---|"
        );
        for c in &self.certs {
            let runs: Vec<String> = c
                .runs
                .iter()
                .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
                .collect();
            let med = match (&c.error, c.median_ms()) {
                (Some(e), _) => format!("failed: {}", e.replace('\n', " ").replace('|', "/")),
                (None, Some(v)) => format!("{} ms", num(v)),
                (None, None) => "—".into(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                c.tool,
                c.key_type,
                med,
                c.runs.len(),
                runs.join(", ")
            );
        }
        let _ = writeln!(o);
    }

    /// The perf profiles, when the run made them.
    fn render_profiles(&self, o: &mut String) {
        let a = &self.args;
        if !self.profiles.is_empty() {
            let _ = writeln!(o, "## Where the CPU goes (perf)\n");
            let _ = writeln!(
                o,
                "One extra run per Rust server, not part of the figures above: the load generator at c=16, \
                 {} calls, under `perf record -e cpu-clock -F 2000 -g -p PID`; `perf report --no-children --sort \
                 dso,symbol`, symbols above 1.5 % of the server's samples.\n",
                a.calls_fast
            );
            for (kind, text) in &self.profiles {
                let _ = writeln!(o, "{}:\n\n```text\n{}\n```\n", kind.label(), text);
            }
        }
    }

    /// Method, this run's notes, and the hand-written findings.
    fn render_closing(&self, o: &mut String) {
        let a = &self.args;
        let _ = writeln!(o, "## Method\n");
        let _ = writeln!(o, "{}", METHOD);
        if !self.notes.is_empty() {
            let _ = writeln!(o, "## Notes from this run\n");
            for n in &self.notes {
                let _ = writeln!(o, "- {n}");
            }
            let _ = writeln!(o);
        }
        if let Ok(findings) = std::fs::read_to_string(a.scripts.join("findings.md")) {
            let _ = writeln!(o, "{}", findings.trim_end());
        }
    }
}

const METHOD: &str = "\
- **Servers.** `plugwire serve` (release build) and the ContextForge 1.0.0 Python runtime \
(its `runtime.run()` entry point through the interop tests' `tests/interop/pyruntime.py`, which only casts \
`ssl_cert_reqs` to int; `PLUGINS_TRANSPORT=http`) serve the same YAML: one SearchReplace plugin \
(`crap` → `crud` → `yikes`). The wheel has no `plugins/` folder, so the Python side loads the interop tests' \
`tests/interop/pyplugins/plugins/regex_filter/search_replace.py` (upstream's algorithm) under the same `kind`. Both are configured by the same \
`PLUGINS_SERVER_*` variables: 127.0.0.1, TLS, `ssl_cert_reqs=2`, each server with its default log level. The limit \
server (`plugwire-bench limit-server`) is hyper + rustls with the same certificates; it reads each request body \
and answers a fixed copy of the real answer.
- **Load generator** (`crates/bench/src/load.rs`): c tasks, each owning one kept-alive HTTP/1.1 connection \
(hyper 1 + tokio-rustls), sharing a fixed number of calls; 2 untimed calls per task first; every request has its own \
JSON-RPC id (the Python runtime routes answers by id) and every answer, JSON or SSE, is read to its end and checked \
for the rewritten text. It does `initialize` once and sends the session id when the server issues one.
- **Gateway clients.** *plugwire client*: the framework's `PluginManager` with a `kind: external` entry \
(plugwire-client), in the harness process. *Python client*: the gateway's own `PluginManager` with the same entry \
(`scripts/bench/python/client.py`), one process, asyncio tasks for concurrency. Both go through the whole hook \
chain, as a gateway does.
- **CPU per call**: utime + stime of the server process from `/proc/PID/stat` (all threads) just before and after \
the timed calls, divided by the calls; the client's the same way (for the in-process clients this is the harness \
process). Tick resolution is 10 ms, so runs last long enough to make that negligible.
- The load generator, the clients and the servers share the same cores, as on the spike that set the targets: a \
faster client leaves more CPU to the server.
";

#[cfg(test)]
mod tests {
    use super::*;

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
}
