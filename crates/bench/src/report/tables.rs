//! The sections of docs/benchmarks.md, one method each, in the order [`Report::render`] writes them.

use std::fmt::Write as _;

use super::format::{count, div, mib, num, opt, ratio};
use super::{Report, METHOD};
use crate::args::Kind;

impl Report {
    /// The title, and the smoke-run warning that the numbers mean nothing.
    pub(super) fn render_intro(&self, o: &mut String) {
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
    pub(super) fn render_machine(&self, o: &mut String) {
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
        let _ = writeln!(
            o,
            "| CPU stolen by the hypervisor during the run (`steal` in `/proc/stat`) | {} |",
            m.steal_during.map_or("—".into(), |s| format!(
                "{:.1} % of all cores' time",
                s * 100.0
            ))
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
            "| allocators | `plugwire serve`: mimalloc (the `plugwire` binary's); `plugwire-bench` (load generator, plugwire client, limit server): {} |",
            crate::ALLOCATOR
        );
        let _ = writeln!(
            o,
            "| parameters | {} runs per figure (medians); calls per run: {} to Rust servers, {} to the Python runtime, {} from the Python client; {} new connections per handshake run at c={}; load generator on {} tokio threads |\n",
            a.runs, a.calls_fast, a.calls_slow, a.calls_python_client, a.handshakes, a.handshake_concurrency, self.threads
        );
    }

    /// The issue's targets against the measured ratios.
    pub(super) fn render_targets(&self, o: &mut String) {
        let _ = writeln!(o, "## Targets (issue 12)\n");
        let _ = writeln!(o, "| target | measured | status |\n|---|---|---|");
        for (what, value, status) in self.targets() {
            let _ = writeln!(o, "| {what} | {value} | {} |", status.text());
        }
        let _ = writeln!(o);
    }

    /// Calls per second, latency and CPU per call of every client/server pair at every concurrency.
    pub(super) fn render_round_trips(&self, o: &mut String) {
        let a = &self.args;
        let _ = writeln!(o, "## Hook round trips\n");
        let _ = writeln!(
            o,
            "`tools/call invoke_hook`, `tool_pre_invoke` through SearchReplace, a {}-byte request, over mTLS on \
             loopback with kept-alive connections. Each cell is the median of {} runs. \
             *× Python* compares calls/s with the Python runtime driven by the same client family: the load \
             generator rows with *load generator → Python runtime*, the gateway-client rows with *Python client → \
             Python runtime* of the same transport (what a ContextForge gateway gets today: over gRPC and the raw \
             socket from the Python gRPC and raw-socket runtimes). *limit ÷* is the limit server's calls/s over \
             the row's at the same concurrency. Connections: the most one run opened, by the client's own count \
             (TCP or Unix socket) / by the kernel's (TCP only: `PassiveOpens` in `/proc/net/snmp`, host-wide), \
             warm-up included; the runs go \
             c=1, 16, 64 and repeat (interleaved with the other servers' runs), so a pooled client opens its \
             connections in the first run and reuses them, unless the server closed them while idle (uvicorn \
             does after 5 s).\n",
            crate::payload::RequestTemplate::invoke_hook().with_id(1).len(),
            a.runs
        );
        let _ = writeln!(
            o,
            "| client → server | c | calls/s | p50 µs | p99 µs | server CPU µs/call | client CPU µs/call | connections | errors | × Python | limit ÷ |\n|---|---|---|---|---|---|---|---|---|---|---|"
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
                    "gen" | "gen-scrape" => self.rate("gen", Kind::Python, c),
                    _ => self.rate("pyc", p.kind.python_peer(), c),
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
    pub(super) fn render_round_trip_errors(&self, o: &mut String) {
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
    pub(super) fn render_footprint(&self, o: &mut String) {
        let _ = writeln!(o, "## Server footprint\n");
        let _ = writeln!(
            o,
            "RSS from `/proc/PID/status` (VmRSS): idle is 0.5 s after the server became healthy, before any call; \
             peak is the largest value sampled every 10 ms while all the pairs above ran; after is 0.5 s after the \
             last of them. Start to healthy: from `spawn` to the first `200` from `/health` on port+1000 (polled \
             every millisecond; the Python gRPC and raw-socket runtimes, which have no health port: to their \
             start-up log line); median, min and max of the starts.\n"
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
    pub(super) fn render_handshakes(&self, o: &mut String) {
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
    pub(super) fn render_certs(&self, o: &mut String) {
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
    pub(super) fn render_profiles(&self, o: &mut String) {
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
    pub(super) fn render_closing(&self, o: &mut String) {
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
