//! The whole benchmark behind `make bench`: certificates, servers, every pair at every
//! concurrency, footprints, handshakes; then the report. Each step's figures come from this run.
//!
//! [`run`] is a list of named phases; each phase adds its figures to the [`Report`] and its
//! problems to the run's notes, so one failing phase leaves the others' figures in the report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::{Kind, RenderArgs, SuiteArgs, Transport};
use crate::certgen::{self, CertDir};
use crate::error::{BenchError, Result};
use crate::extras::scraped_sample;
use crate::load::{Session, Target};
use crate::phases::{gen_sample, handshakes, machine, profile, time_certs, tool_versions};
use crate::procfs;
use crate::procs::Server;
use crate::pwclient;
use crate::pyclient::{self, PythonEnv, Step};
use crate::report::{Footprint, PairResult, Report};
use crate::servers::{gateway_yaml_for, progress, write, Ctx, RssWatch};

pub use crate::servers::{gateway_yaml, SERVER_YAML};

/// Rewrites the report from a saved run (same measurements; the current findings.md).
pub fn render(args: RenderArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.results).map_err(|source| BenchError::Read {
        path: args.results.clone(),
        source,
    })?;
    let mut report: Report = serde_json::from_str(&text).map_err(|e| BenchError::Run {
        what: format!("reading {}", args.results.display()),
        reason: e.to_string(),
    })?;
    report.args.scripts = args.scripts;
    write_outputs(&report, &args.out)
}

/// The report at `out` and its charts in `bench/` beside it.
pub fn write_outputs(report: &Report, out: &Path) -> Result<()> {
    let dir = out.parent().unwrap_or(Path::new(""));
    let charts = dir.join(crate::report::CHART_DIR);
    std::fs::create_dir_all(&charts).map_err(|source| BenchError::Write {
        path: charts.clone(),
        source,
    })?;
    for (stem, chart) in report.charts() {
        write(&charts.join(format!("{stem}.svg")), &chart.to_svg())?;
    }
    write(out, &report.render())
}

/// The running servers, in start order.
type Servers = Vec<(Kind, Server)>;
/// The load generator's connection target and MCP session per server.
type Targets = HashMap<Kind, (Arc<Target>, Session)>;

/// Runs everything and writes the report.
pub async fn run(mut args: SuiteArgs, threads: usize) -> Result<()> {
    args.apply_smoke();
    let t_suite = Instant::now();
    let cpu_at_start = procfs::CpuTimes::now();
    let tmp = tempfile::tempdir()?;
    let (mut ctx, mut report) = prepare(&mut args, tmp.path(), threads)?;

    let cert_dirs = certs_phase(&mut ctx, &mut report)?;
    let kinds = server_kinds(&ctx);
    let mut servers = start_phase(&ctx, &mut report, &kinds).await;
    let watch = RssWatch::default();
    let watcher = watch.spawn(servers.iter().map(|(k, s)| (*k, s.pid())).collect());

    let targets = generator_phase(&mut ctx, &mut report, &servers).await?;
    profile_phase(&mut ctx, &mut report, &servers, &targets).await;
    plugwire_client_phase(&mut ctx, &mut report, &servers).await?;
    python_client_phase(&ctx, &mut report, &servers).await?;

    watcher.abort();
    report.rss_traces = watch.traces();
    footprint_after_phase(&mut report, &servers, &watch).await;
    let core: Vec<Kind> = kinds.iter().copied().filter(|k| k.is_mcp_core()).collect();
    handshake_phase(&mut ctx, &mut report, &mut servers, &core, &cert_dirs).await;
    for (_, mut s) in servers {
        s.stop();
    }
    report.first_call = Some(crate::extras::first_call(&ctx, ctx.args.first_call_starts).await);
    report.machine.steal_during = cpu_at_start
        .zip(procfs::CpuTimes::now())
        .and_then(|(start, end)| end.steal_since(&start));
    finish(ctx, report, &args, t_suite)
}

/// Resolves paths, finds the Python peer, and describes the machine before anything runs.
fn prepare(args: &mut SuiteArgs, tmp: &Path, threads: usize) -> Result<(Ctx, Report)> {
    let mut m = machine(args);
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            std::fs::canonicalize(d)?
        }
        None => tmp.to_path_buf(),
    };
    let scripts = std::fs::canonicalize(&args.scripts).map_err(|source| BenchError::Read {
        path: args.scripts.clone(),
        source,
    })?;
    args.scripts = scripts.clone();
    let py = python_env(args, &scripts)?;
    if let Ok(p) = std::fs::canonicalize(&args.plugwire) {
        args.plugwire = p;
    }
    let ctx = Ctx {
        args: args.clone(),
        work: work.clone(),
        certs: CertDir {
            root: work.join("unused"),
            plugin: String::new(),
        },
        server_yaml: work.join("server.yaml"),
        py,
        notes: Vec::new(),
    };
    m.versions = tool_versions(&ctx);
    let report = Report::new(m, args.clone(), threads);
    Ok((ctx, report))
}

/// The Python peer's files, or an error naming what is missing (`--no-python` skips it).
fn python_env(args: &SuiteArgs, scripts: &Path) -> Result<Option<PythonEnv>> {
    if args.no_python {
        return Ok(None);
    }
    if !args.python.exists() {
        return Err(BenchError::Run {
            what: "Python peer".into(),
            reason: format!(
                "{} does not exist: run `make venv` first (or pass --no-python)",
                args.python.display()
            ),
        });
    }
    let interop = std::path::absolute(&args.interop)?;
    let env = PythonEnv {
        // Not canonicalized: the venv's `python` is a symlink, and resolving it leaves the venv.
        python: std::path::absolute(&args.python)?,
        scripts: scripts.join("python"),
        runtime: interop.join("pyruntime.py"),
        plugins: interop.join("pyplugins"),
    };
    for needed in [&env.runtime, &env.plugins] {
        if !needed.exists() {
            return Err(BenchError::Run {
                what: "Python peer".into(),
                reason: format!(
                    "{} does not exist (the interop tests' runtime wrapper and plugin modules are \
                     reused; pass --interop DIR, or --no-python)",
                    needed.display()
                ),
            });
        }
    }
    Ok(Some(env))
}

/// Step 1: `certs all` against openssl; the servers then use plugwire's certificates (or the
/// harness's ECDSA material when `plugwire certs` failed). Returns each key type's directory.
fn certs_phase(ctx: &mut Ctx, report: &mut Report) -> Result<Vec<(String, PathBuf)>> {
    let args = ctx.args.clone();
    let mut server_certs = None;
    let mut cert_dirs = Vec::new();
    for key_type in ["ecdsa-p256", "rsa4096"] {
        if args.smoke && key_type == "rsa4096" {
            continue;
        }
        let runs = if key_type == "rsa4096" {
            args.cert_runs.min(3)
        } else {
            args.cert_runs
        };
        progress(&format!(
            "certs all, {key_type}, {runs} runs each (plugwire, openssl)"
        ));
        let (ours, theirs, dir) = time_certs(ctx, key_type, runs);
        if key_type == args.key_type {
            server_certs = dir.clone();
        }
        if let Some(d) = dir {
            cert_dirs.push((key_type.to_string(), d));
        }
        report.certs.push(ours);
        report.certs.push(theirs);
    }
    ctx.certs = match server_certs {
        Some(root) => CertDir {
            root,
            plugin: "example-plugin-a".into(),
        },
        None => {
            ctx.notes.push(format!(
                "`plugwire certs all --key-type {}` failed (see the certificate table), so the servers \
                 use ECDSA P-256 material made by the harness (rcgen).",
                args.key_type
            ));
            certgen::generate(&ctx.work.join("certs-harness"), "example-plugin-a")?
        }
    };
    report.server_key_type = if ctx.notes.is_empty() {
        args.key_type.clone()
    } else {
        "ecdsa-p256 (harness)".into()
    };
    write(&ctx.server_yaml, crate::servers::SERVER_YAML)?;
    Ok(cert_dirs)
}

/// Which servers this run starts: the limit, `plugwire serve` with and without metrics, the
/// Python MCP runtime, and each other transport's plugwire and Python servers.
fn server_kinds(ctx: &Ctx) -> Vec<Kind> {
    let python = ctx.py.is_some();
    let transports = !ctx.args.no_transports;
    [
        (Kind::Limit, true),
        (Kind::Plugwire, true),
        (Kind::Python, python),
        (Kind::PlugwireNoMetrics, true),
        (Kind::PlugwireGrpc, transports),
        (Kind::PlugwireGrpcUds, transports),
        (Kind::PlugwireUnix, transports),
        (Kind::PythonGrpc, transports && python),
        (Kind::PythonGrpcUds, transports && python),
        (Kind::PythonUnix, transports && python),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect()
}

/// Step 2: Start-to-healthy and idle RSS; the last start of each server stays up.
async fn start_phase(ctx: &Ctx, report: &mut Report, kinds: &[Kind]) -> Servers {
    let mut servers = Vec::new();
    for &kind in kinds {
        let starts = match kind {
            Kind::Plugwire => ctx.args.starts.max(1),
            Kind::Python => ctx.args.starts.clamp(1, 3),
            _ => 1,
        };
        progress(&format!("starting {} ({starts}×)", kind.label()));
        let mut fp = Footprint::new(kind);
        let mut last = None;
        for i in 0..starts {
            if let Some(mut s) = last.take() {
                Server::stop(&mut s);
            }
            match ctx.start(kind, i) {
                Ok(s) => {
                    if let Some(d) = s.start_to_healthy {
                        fp.start_to_healthy.push(d);
                    }
                    last = Some(s);
                }
                Err(e) => {
                    fp.error = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(s) = last {
            tokio::time::sleep(Duration::from_millis(500)).await;
            fp.rss_idle_kib = procfs::rss_kib(s.pid());
            servers.push((kind, s));
        }
        report.footprints.push(fp);
    }
    servers
}

/// Step 3: The same load generator against every MCP server, interleaved run by run; against
/// `plugwire serve` once more with `/metrics/prometheus` scraped meanwhile.
async fn generator_phase(ctx: &mut Ctx, report: &mut Report, servers: &Servers) -> Result<Targets> {
    let args = ctx.args.clone();
    let mut targets = HashMap::new();
    for (kind, s) in servers {
        if kind.transport() != Transport::Mcp {
            continue;
        }
        let target = ctx.target(s.port)?;
        match target.open_session().await {
            Ok(session) => {
                targets.insert(*kind, (target, session));
            }
            Err(e) => ctx.notes.push(format!(
                "load generator → {}: no session: {e}",
                kind.label()
            )),
        }
    }
    let mut gen: HashMap<(&str, Kind), PairResult> = HashMap::new();
    for run in 0..args.runs {
        for &c in &args.concurrency {
            for (kind, server) in servers {
                let Some((target, session)) = targets.get(kind) else {
                    continue;
                };
                let calls = if kind.is_python() {
                    args.calls_slow
                } else {
                    args.calls_fast
                };
                progress(&format!(
                    "run {}/{}: load generator → {}, c={c}, {calls} calls",
                    run + 1,
                    args.runs,
                    kind.label()
                ));
                let sample = gen_sample(ctx, target, session, server, c, calls, false).await;
                gen.entry(("gen", *kind))
                    .or_insert_with(|| PairResult::new("gen", "Rust load generator", *kind))
                    .push(c, sample);
                if *kind == Kind::Plugwire {
                    progress(&format!(
                        "run {}/{}: load generator → {}, c={c}, {calls} calls, metrics scraped",
                        run + 1,
                        args.runs,
                        kind.label()
                    ));
                    let sample = scraped_sample(ctx, target, session, server, c, calls).await;
                    gen.entry(("gen-scrape", *kind))
                        .or_insert_with(|| PairResult::new("gen-scrape", SCRAPED_CLIENT, *kind))
                        .push(c, sample);
                }
            }
        }
    }
    for key in [
        ("gen", Kind::Limit),
        ("gen", Kind::Plugwire),
        ("gen-scrape", Kind::Plugwire),
        ("gen", Kind::PlugwireNoMetrics),
        ("gen", Kind::Python),
    ] {
        if let Some(p) = gen.remove(&key) {
            report.pairs.push(p);
        }
    }
    Ok(targets)
}

/// The client column of the scraped runs.
const SCRAPED_CLIENT: &str = "Rust load generator, /metrics/prometheus scraped every 100 ms";

/// An extra perf-profiled run per Rust server (skipped with `--no-profile`).
async fn profile_phase(ctx: &mut Ctx, report: &mut Report, servers: &Servers, targets: &Targets) {
    if ctx.args.no_profile {
        return;
    }
    for (kind, server) in servers {
        if !matches!(kind, Kind::Limit | Kind::Plugwire) {
            continue;
        }
        let Some((target, session)) = targets.get(kind) else {
            continue;
        };
        progress(&format!(
            "profiled extra run (perf): load generator → {}, c=16",
            kind.label()
        ));
        match profile(ctx, target, session, server).await {
            Ok(text) => report.profiles.push((*kind, text)),
            Err(e) => ctx
                .notes
                .push(format!("perf profile of {}: {e}", kind.label())),
        }
    }
}

/// Step 4: The plugwire gateway client (PluginManager + ExternalPlugin) against every server it
/// can reach: the Python MCP runtime and `plugwire serve` over each transport; one gateway per
/// server, their runs interleaved as the load generator's are.
async fn plugwire_client_phase(
    ctx: &mut Ctx,
    report: &mut Report,
    servers: &Servers,
) -> Result<()> {
    let args = ctx.args.clone();
    let mut gateways = Vec::new();
    for (kind, server) in servers {
        if !kind.plugwire_client_pair() {
            continue;
        }
        let yaml = ctx
            .work
            .join(format!("gateway-pwc-{kind:?}.yaml").to_lowercase());
        write(&yaml, &gateway_yaml_for(*kind, server, &ctx.certs)?)?;
        let mut pair = PairResult::new("pwc", "plugwire client", *kind);
        let gateway = match pwclient::Gateway::connect(&yaml).await {
            Ok(gw) => Some(Arc::new(gw)),
            Err(e) => {
                pair.error = Some(e.to_string());
                None
            }
        };
        gateways.push((pair, gateway, server.pid()));
    }
    for run in 0..args.runs {
        for &c in &args.concurrency {
            for (pair, gateway, pid) in &mut gateways {
                let Some(gw) = gateway else {
                    continue;
                };
                let kind = pair.kind;
                let calls = if kind.is_python() {
                    args.calls_slow
                } else {
                    args.calls_fast
                };
                progress(&format!(
                    "run {}/{}: plugwire client → {}, c={c}, {calls} calls",
                    run + 1,
                    args.runs,
                    kind.label()
                ));
                let budget = Duration::from_secs(args.max_run_secs.max(1));
                let s = pwclient::run_within(gw.clone(), c, calls, *pid, Some(budget)).await;
                if s.calls < calls {
                    let note = format!(
                        "plugwire client → {}, c={c}, run {}: stopped after {} s \
                         (--max-run-secs) with {} of {calls} calls made; its figures are \
                         over those calls.",
                        kind.label(),
                        run + 1,
                        budget.as_secs(),
                        s.calls
                    );
                    progress(&note);
                    ctx.notes.push(note);
                }
                pair.push(c, s);
            }
        }
    }
    for (pair, gateway, _) in gateways {
        if let Some(gw) = gateway {
            gw.shutdown().await;
        }
        report.pairs.push(pair);
    }
    Ok(())
}

/// Step 5: The Python gateway client against its own servers and `plugwire serve`, over MCP,
/// gRPC (mTLS, and a Unix socket) and the raw socket: one client process per server, their steps
/// interleaved run by run as the load generator's are, so each comparison is of the same moments.
async fn python_client_phase(ctx: &Ctx, report: &mut Report, servers: &Servers) -> Result<()> {
    let Some(py) = ctx.py.clone() else {
        return Ok(());
    };
    let args = &ctx.args;
    let plan: Vec<Step> = (0..args.runs)
        .flat_map(|_| {
            args.concurrency.iter().map(|&c| Step {
                concurrency: c,
                calls: args.calls_python_client,
            })
        })
        .collect();
    let mut clients = Vec::new();
    for (kind, server) in servers {
        if !kind.python_client_pair() {
            continue;
        }
        let yaml = ctx
            .work
            .join(format!("gateway-pyc-{kind:?}.yaml").to_lowercase());
        write(&yaml, &gateway_yaml_for(*kind, server, &ctx.certs)?)?;
        let log = ctx
            .work
            .join(format!("pyclient-{kind:?}.log").to_lowercase());
        let mut pair = PairResult::new("pyc", "Python client 1.0.0", *kind);
        progress(&format!("Python client → {}: starting", kind.label()));
        let (py2, work2, plan2) = (py.clone(), ctx.work.clone(), plan.clone());
        let (pid, port) = (server.pid(), server.port);
        let session = blocking(move || {
            pyclient::Session::start(&py2, &work2, &yaml, &plan2, pid, port, &log)
        })
        .await;
        let session = session.map_err(|e| pair.error = Some(e.to_string())).ok();
        clients.push((pair, session));
    }
    for (i, step) in plan.iter().enumerate() {
        for (pair, slot) in clients.iter_mut() {
            let Some(mut session) = slot.take() else {
                continue;
            };
            progress(&format!(
                "run {}/{}: Python client → {}, c={}, {} calls",
                i / args.concurrency.len().max(1) + 1,
                args.runs,
                pair.kind.label(),
                step.concurrency,
                step.calls
            ));
            let (session, result) = blocking(move || {
                let result = session.step();
                Ok((session, result))
            })
            .await?;
            match result {
                Some(Ok((step, mut sample))) => {
                    // client.py counts the connections httpx opens: MCP only.
                    if pair.kind.transport() != Transport::Mcp {
                        sample.connections = None;
                    }
                    pair.push(step.concurrency, sample);
                    *slot = Some(session);
                }
                Some(Err(e)) => pair.error = Some(e.to_string()),
                None => {}
            }
        }
    }
    for (pair, session) in clients {
        drop(session);
        report.pairs.push(pair);
    }
    Ok(())
}

/// `f` on tokio's blocking pool (the Python client's pipes are blocking).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BenchError::Run {
            what: "Python client".into(),
            reason: e.to_string(),
        })?
}

/// Step 6: RSS under load (peak while the runs above went on) and idle again afterwards.
async fn footprint_after_phase(report: &mut Report, servers: &Servers, watch: &RssWatch) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (kind, server) in servers {
        if let Some(fp) = report.footprints.iter_mut().find(|f| f.kind == *kind) {
            fp.rss_peak_kib = watch.max(server.pid());
            fp.rss_after_kib = procfs::rss_kib(server.pid());
        }
    }
}

/// Step 7: TLS handshakes: a new connection for every call; then the same with the other key type
/// (the servers are restarted with those certificates).
async fn handshake_phase(
    ctx: &mut Ctx,
    report: &mut Report,
    servers: &mut Servers,
    kinds: &[Kind],
    cert_dirs: &[(String, PathBuf)],
) {
    let key_label = report.server_key_type.clone();
    report
        .handshakes
        .extend(handshakes(ctx, servers, &key_label).await);
    let server_certs = ctx.certs.clone();
    for (key_type, root) in cert_dirs {
        if *key_type == ctx.args.key_type || report.server_key_type != ctx.args.key_type {
            continue;
        }
        for (_, mut s) in servers.drain(..) {
            s.stop();
        }
        ctx.certs = CertDir {
            root: root.clone(),
            plugin: "example-plugin-a".into(),
        };
        for &kind in kinds {
            match ctx.start(kind, 100) {
                Ok(s) => servers.push((kind, s)),
                Err(e) => ctx.notes.push(format!(
                    "{} with {key_type} certificates: {e}",
                    kind.label()
                )),
            }
        }
        report
            .handshakes
            .extend(handshakes(ctx, servers, key_type).await);
    }
    // Later phases (the first call) use the servers' own certificates again.
    ctx.certs = server_certs;
}

/// Notes, the report, the saved JSON; an error when any measurement failed.
fn finish(mut ctx: Ctx, mut report: Report, args: &SuiteArgs, t_suite: Instant) -> Result<()> {
    if let Some(b) = report.machine.busy_before.filter(|b| *b > 0.2) {
        ctx.notes.push(format!(
            "The machine was busy when this run started ({:.0} % of all cores in use by other processes in \
             the second before it): they competed with the clients and servers for the CPU, so the figures \
             are lower, and noisier, than on an idle machine.",
            b * 100.0
        ));
    }
    if let Some(s) = report.machine.steal_during.filter(|s| *s > 0.02) {
        ctx.notes.push(format!(
            "The hypervisor ran something else for {:.1} % of this machine's CPU time during the run \
             (`steal` in /proc/stat): the figures are lower, and noisier, than on an undisturbed host.",
            s * 100.0
        ));
    }
    report.notes.append(&mut ctx.notes);
    report.machine.load_after = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string();
    report.machine.duration = t_suite.elapsed();
    write_outputs(&report, &args.out)?;
    match serde_json::to_string_pretty(&report) {
        Ok(json) => write(&args.results, &json)?,
        Err(e) => progress(&format!("cannot save {}: {e}", args.results.display())),
    }
    progress(&format!(
        "wrote {} in {:.0} s",
        args.out.display(),
        t_suite.elapsed().as_secs_f64()
    ));
    if report.has_errors() {
        return Err(BenchError::Run {
            what: "benchmark".into(),
            reason: format!("some measurements failed; see {}", args.out.display()),
        });
    }
    Ok(())
}
