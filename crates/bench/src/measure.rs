//! One measured run of any client against any server, and the medians over repeated runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::load::LoadResult;
use crate::procfs;
use crate::stats::median;

/// What one timed run measured. Per-call CPU figures are in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    pub calls: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub calls_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub server_cpu_us: Option<f64>,
    pub client_cpu_us: Option<f64>,
    /// CPU per call of the client's main thread alone: the Python client's event loop, which
    /// runs every call's Python work (its gRPC library's own threads do the I/O).
    #[serde(default)]
    pub client_loop_cpu_us: Option<f64>,
    /// Connections the client opened (its own count, TCP or Unix socket, warm-up included).
    pub connections: Option<usize>,
    /// TCP connections accepted on this host meanwhile (`PassiveOpens`, warm-up included).
    pub tcp_opened: Option<u64>,
}

pub(crate) fn per_call_us(cpu: Option<Duration>, calls: usize) -> Option<f64> {
    cpu.map(|d| d.as_secs_f64() * 1e6 / calls.max(1) as f64)
}

impl Sample {
    /// From a load-generator run plus the connections seen since `ports_before`.
    pub fn from_load(r: &LoadResult, opens_before: Option<u64>) -> Self {
        Self {
            calls: r.calls,
            errors: r.errors,
            first_error: r.first_error.clone(),
            calls_per_sec: r.calls_per_sec(),
            p50_us: r.p50().as_secs_f64() * 1e6,
            p99_us: r.p99().as_secs_f64() * 1e6,
            server_cpu_us: per_call_us(r.server_cpu, r.calls),
            client_cpu_us: per_call_us(r.client_cpu, r.calls),
            client_loop_cpu_us: None,
            connections: Some(r.connections),
            tcp_opened: accepted_since(opens_before),
        }
    }
}

/// Connections accepted on this host since the `before` snapshot of `PassiveOpens`.
pub fn accepted_since(before: Option<u64>) -> Option<u64> {
    Some(procfs::passive_opens()?.saturating_sub(before?))
}

/// CPU-time snapshot of a set of processes, for per-call figures of clients we do not own.
#[derive(Debug, Clone)]
pub struct CpuMark(Option<procfs::CpuReading>);

impl CpuMark {
    pub fn now(pid: Option<u32>) -> Self {
        Self(pid.map(procfs::CpuReading::of))
    }
    pub fn since(&self, pid: Option<u32>, calls: usize) -> Option<f64> {
        let now = procfs::CpuReading::of(pid?);
        per_call_us(now.since(self.0.as_ref()?), calls)
    }
}

/// Medians of repeated runs at one concurrency.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Series {
    pub concurrency: usize,
    pub samples: Vec<Sample>,
}

fn med(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    let m = median(&v);
    m.is_finite().then_some(m)
}

impl Series {
    pub fn calls_per_sec(&self) -> Option<f64> {
        med(self.samples.iter().map(|s| s.calls_per_sec))
    }
    pub fn p50_us(&self) -> Option<f64> {
        med(self.samples.iter().map(|s| s.p50_us))
    }
    pub fn p99_us(&self) -> Option<f64> {
        med(self.samples.iter().map(|s| s.p99_us))
    }
    pub fn server_cpu_us(&self) -> Option<f64> {
        med(self.samples.iter().filter_map(|s| s.server_cpu_us))
    }
    pub fn client_cpu_us(&self) -> Option<f64> {
        med(self.samples.iter().filter_map(|s| s.client_cpu_us))
    }
    pub fn client_loop_cpu_us(&self) -> Option<f64> {
        med(self.samples.iter().filter_map(|s| s.client_loop_cpu_us))
    }
    /// Most connections the client opened in one run (a pooled client opens them in the first
    /// run and reuses them later, so a median would hide them).
    pub fn connections(&self) -> Option<f64> {
        self.samples
            .iter()
            .filter_map(|s| s.connections)
            .max()
            .map(|c| c as f64)
    }
    /// Most connections the kernel accepted during one run.
    pub fn tcp_opened(&self) -> Option<f64> {
        self.samples
            .iter()
            .filter_map(|s| s.tcp_opened)
            .max()
            .map(|c| c as f64)
    }
    /// The run-to-run noise of `metric`: (max − min) ÷ median over the runs, 0 for one run.
    pub fn spread(&self, metric: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(metric)
            .filter(|x| x.is_finite())
            .collect();
        let m = median(&v);
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(*x), hi.max(*x))
            });
        (m.is_finite() && m > 0.0).then(|| (hi - lo) / m)
    }
    pub fn errors(&self) -> usize {
        self.samples.iter().map(|s| s.errors).sum()
    }
    pub fn calls(&self) -> usize {
        self.samples.first().map_or(0, |s| s.calls)
    }
    pub fn first_error(&self) -> Option<&str> {
        self.samples.iter().find_map(|s| s.first_error.as_deref())
    }
}
