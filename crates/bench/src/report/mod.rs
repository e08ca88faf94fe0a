//! `docs/benchmarks.md`: every figure of one run, the ratios the targets talk about, and the
//! targets marked met or missed. Only measured values are printed; a figure that could not be
//! measured says so.

use std::time::Duration;

use crate::args::{Kind, SuiteArgs};
use crate::measure::{Sample, Series};
use crate::stats::median;

mod charts;
mod format;
mod later;
mod tables;
mod targets;

pub use charts::CHART_DIR;

/// How the figures were taken (the report's "Method" section).
const METHOD: &str = include_str!("method.md");

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
    /// Share of all CPU time during the run that the hypervisor gave to others (`steal` in
    /// `/proc/stat`): a run the host disturbed shows here. Absent from results saved before it.
    #[serde(default)]
    pub steal_during: Option<f64>,
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

/// A server's RSS over the load phases, for the chart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RssTrace {
    pub kind: Kind,
    /// (seconds since the load phases began, KiB).
    pub points: Vec<(f64, u64)>,
}

/// The first hook call after `plugwire serve` became healthy against warm calls of the same
/// process, both as a gateway's first call goes: TCP connect, TLS handshake, one hook call.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FirstCall {
    /// Per fresh start: connection + handshake + the first hook call, µs.
    pub first_us: Vec<f64>,
    /// Per fresh start: the first hook call alone (after the handshake), µs.
    pub first_call_only_us: Vec<f64>,
    /// Per fresh start: the median of the warm calls made the same way, µs.
    pub warm_us: Vec<f64>,
    /// Per fresh start: the median hook call alone of the warm calls, µs.
    pub warm_call_only_us: Vec<f64>,
    /// Warm calls per start.
    pub warm_calls: usize,
    pub error: Option<String>,
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
    /// `gen` (load generator), `gen-scrape` (the load generator while `/metrics/prometheus` is
    /// scraped every 100 ms), `pwc` (plugwire client), `pyc` (Python client).
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
    /// RSS of each server over the load phases.
    #[serde(default)]
    pub rss_traces: Vec<RssTrace>,
    #[serde(default)]
    pub first_call: Option<FirstCall>,
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
            rss_traces: Vec::new(),
            first_call: None,
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
            || self.first_call.as_ref().is_some_and(|f| f.error.is_some())
    }

    /// The Markdown document.
    pub fn render(&self) -> String {
        let mut o = String::new();
        self.render_intro(&mut o);
        self.render_machine(&mut o);
        self.render_targets(&mut o);
        self.render_issue_targets(&mut o);
        self.render_charts(&mut o);
        self.render_round_trips(&mut o);
        self.render_round_trip_errors(&mut o);
        self.render_footprint(&mut o);
        self.render_first_call(&mut o);
        self.render_handshakes(&mut o);
        self.render_certs(&mut o);
        self.render_profiles(&mut o);
        self.render_closing(&mut o);
        o
    }
}

#[cfg(test)]
mod tests;
