//! The Python gateway client as a load source: `scripts/bench/python/client.py` runs the
//! gateway's own `PluginManager` with a `kind: external` entry; we sample the server's and the
//! client's CPU around each timed step it announces.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use crate::error::{BenchError, Result};
use crate::measure::{accepted_since, per_call_us, CpuMark, Sample};
use crate::payload;
use crate::procfs;

/// Where the Python side lives.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    /// The interop venv's interpreter.
    pub python: PathBuf,
    /// `scripts/bench/python` (client.py).
    pub scripts: PathBuf,
    /// The interop tests' runtime wrapper (`tests/interop/pyruntime.py`: casts `ssl_cert_reqs`).
    pub runtime: PathBuf,
    /// The interop tests' plugin modules (`tests/interop/pyplugins`: upstream's SearchReplace
    /// under its upstream `kind`, which the 1.0.0 wheel does not ship), for `PYTHONPATH`.
    pub plugins: PathBuf,
}

/// One step of the plan: `calls` timed calls at `concurrency`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub concurrency: usize,
    pub calls: usize,
}

/// One client.py process, driven a step at a time: the suite interleaves the steps of several
/// servers' clients, so that the servers compared are measured at the same moments of the run.
pub struct Session {
    child: Child,
    /// `None` once closed, which ends the client's wait for its next line.
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    /// The steps not yet run, in plan order.
    plan: std::collections::VecDeque<Step>,
    server_pid: u32,
    log: PathBuf,
}

impl Session {
    /// Starts a client for the server of `gateway_yaml` with `plan` as its steps, and waits
    /// until its `PluginManager` is initialized (so no start-up overlaps another client's step).
    pub fn start(
        env: &PythonEnv,
        work: &Path,
        gateway_yaml: &Path,
        plan: &[Step],
        server_pid: u32,
        server_port: u16,
        log: &Path,
    ) -> Result<Self> {
        let spec_path = write_spec(work, gateway_yaml, plan, server_port)?;
        Self::start_from_spec(env, work, &spec_path, plan, server_pid, log)
    }

    /// [`Session::start`] with the spec file already written.
    fn start_from_spec(
        env: &PythonEnv,
        work: &Path,
        spec_path: &Path,
        plan: &[Step],
        server_pid: u32,
        log: &Path,
    ) -> Result<Self> {
        let log_file = std::fs::File::create(log).map_err(|source| BenchError::Write {
            path: log.into(),
            source,
        })?;
        let mut child = spawn_client(env, work, spec_path, log_file)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failure(log, "no pipes to the client".into()));
        };
        let mut session = Self {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
            plan: plan.iter().copied().collect(),
            server_pid,
            log: log.into(),
        };
        session.expect("started")?;
        Ok(session)
    }

    /// Runs the plan's next step: its warm-up, then its timed calls with the server's and the
    /// client's CPU read around them. `None` when the plan is done.
    pub fn step(&mut self) -> Option<Result<(Step, Sample)>> {
        let step = self.plan.pop_front()?;
        Some(self.run_step(&step).map(|sample| (step, sample)))
    }

    fn run_step(&mut self, step: &Step) -> Result<Sample> {
        // Connections opened by this step, warm-up included (the other clients are idle).
        let ports0 = procfs::passive_opens();
        self.send("warm")?;
        self.expect("ready")?;
        let pid = self.child.id();
        let server0 = CpuMark::now(Some(self.server_pid));
        let client0 = procfs::CpuReading::of(pid);
        self.send("go")?;
        let r = self.expect("result")?;
        let client1 = procfs::CpuReading::of(pid);
        let cpu_us = ClientCpu {
            server: server0.since(Some(self.server_pid), step.calls),
            client: per_call_us(client1.since(&client0), step.calls),
            // The main thread runs asyncio's loop: every call's Python work.
            event_loop: per_call_us(client1.thread_since(&client0, pid), step.calls),
        };
        Ok(sample_of(step, &r, cpu_us, accepted_since(ports0)))
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| failure(&self.log, "its stdin is closed".into()))?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }

    /// The client's next line, which must be the event `want`.
    fn expect(&mut self, want: &str) -> Result<Value> {
        let line = match self.lines.next() {
            Some(line) => line?,
            None => {
                return Err(failure(
                    &self.log,
                    format!("exited while we waited for {want:?}"),
                ))
            }
        };
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| failure(&self.log, format!("bad line {line:?}: {e}")))?;
        if v["event"] != want {
            return Err(failure(&self.log, format!("expected {want:?}, got {line}")));
        }
        Ok(v)
    }
}

impl Drop for Session {
    /// A finished client exits when its stdin closes; one left mid-plan (a failed step) is
    /// killed.
    fn drop(&mut self) {
        if !self.plan.is_empty() {
            let _ = self.child.kill();
        }
        self.stdin = None;
        let _ = self.child.wait();
    }
}

/// A client failure, with the tail of its log.
fn failure(log: &Path, reason: String) -> BenchError {
    BenchError::Run {
        what: "Python client".into(),
        reason: format!("{reason}\n{}", crate::procs::tail(log, 20)),
    }
}

/// Untimed calls before each step, at least: the client has waited through the other servers'
/// runs, so its connections and the interpreter's caches are warmed again, not only its tasks.
const MIN_WARM_UP: usize = 50;

/// The plan client.py reads: the gateway config, the payload, and each step with its warm-up.
fn write_spec(
    work: &Path,
    gateway_yaml: &Path,
    steps: &[Step],
    server_port: u16,
) -> Result<PathBuf> {
    let context = payload::context();
    let spec = json!({
        "config": gateway_yaml,
        "payload": payload::tool_payload(),
        "global_context": context["global_context"],
        "plan": steps.iter().map(|s| json!({"concurrency": s.concurrency, "calls": s.calls,
            "warmup": (s.concurrency * 2).max(MIN_WARM_UP)})).collect::<Vec<_>>(),
    });
    let spec_path = work.join(format!("pyclient-{server_port}.json"));
    std::fs::write(&spec_path, spec.to_string()).map_err(|source| BenchError::Write {
        path: spec_path.clone(),
        source,
    })?;
    Ok(spec_path)
}

/// client.py with piped stdin/stdout (the step protocol) and stderr into the log.
fn spawn_client(
    env: &PythonEnv,
    work: &Path,
    spec_path: &Path,
    log_file: std::fs::File,
) -> Result<Child> {
    Command::new(&env.python)
        .arg(env.scripts.join("client.py"))
        .arg(spec_path)
        .current_dir(work)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|source| BenchError::Spawn {
            what: format!("Python client ({})", env.python.display()),
            source,
        })
}

/// CPU per call in µs: the server's, the client process's, and its event loop's thread's.
struct ClientCpu {
    server: Option<f64>,
    client: Option<f64>,
    event_loop: Option<f64>,
}

/// One step's sample from client.py's `result` line and our CPU readings and connection counts
/// (a timing missing from the line reads as NaN).
fn sample_of(step: &Step, r: &Value, cpu: ClientCpu, tcp_opened: Option<u64>) -> Sample {
    let elapsed = r["elapsed_s"].as_f64().unwrap_or(f64::NAN);
    let errors = r["errors"].as_u64().unwrap_or(0) as usize;
    Sample {
        calls: step.calls,
        errors,
        first_error: r["first_error"].as_str().map(str::to_string),
        calls_per_sec: (step.calls - errors.min(step.calls)) as f64 / elapsed,
        p50_us: r["p50_s"].as_f64().unwrap_or(f64::NAN) * 1e6,
        p99_us: r["p99_s"].as_f64().unwrap_or(f64::NAN) * 1e6,
        server_cpu_us: cpu.server,
        client_cpu_us: cpu.client,
        client_loop_cpu_us: cpu.event_loop,
        connections: r["connections"].as_u64().map(|c| c as usize),
        tcp_opened,
    }
}

#[cfg(test)]
#[path = "pyclient_tests.rs"]
mod tests;
