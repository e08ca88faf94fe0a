//! The whole benchmark behind `make bench`: certificates, servers, every pair at every
//! concurrency, footprints, handshakes; then the report. Each step's figures come from this run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::args::{Kind, RenderArgs, SuiteArgs};
use crate::certgen::{self, CertDir};
use crate::error::{BenchError, Result};
use crate::load::{self, LoadSpec, Target};
use crate::measure::{Sample, Series};
use crate::payload::{RequestTemplate, PLUGIN_NAME};
use crate::procfs;
use crate::procs::{free_port_pair, Server};
use crate::pwclient;
use crate::pyclient::{self, PythonEnv, Step};
use crate::report::{CertsTiming, Footprint, Handshakes, Machine, PairResult, Report};

/// The plugin server config both servers load: one SearchReplace plugin.
pub const SERVER_YAML: &str = "\
plugin_settings:
  plugin_timeout: 30
  fail_on_plugin_error: false
plugin_dirs: []
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    description: Regex search and replace (the benchmark's hook)
    author: plugwire-bench
    version: 0.1.0
    hooks: [tool_pre_invoke]
    mode: enforce
    priority: 150
    config:
      words:
        - {search: crap, replace: crud}
        - {search: crud, replace: yikes}
";

/// A gateway config with one `kind: external` entry for the server at `port`.
pub fn gateway_yaml(port: u16, certs: &CertDir) -> String {
    let gw = certs.gateway();
    format!(
        "plugin_settings:\n  plugin_timeout: 30\n  fail_on_plugin_error: false\nplugin_dirs: []\nplugins:\n  \
         - name: {PLUGIN_NAME}\n    kind: external\n    mode: enforce\n    priority: 150\n    mcp:\n      \
         proto: STREAMABLEHTTP\n      url: https://localhost:{port}/mcp\n      tls:\n        \
         certfile: {}\n        keyfile: {}\n        ca_bundle: {}\n        verify: true\n        check_hostname: true\n",
        gw.cert.display(),
        gw.key.display(),
        gw.ca.display()
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| BenchError::Write {
        path: path.into(),
        source,
    })
}

fn progress(msg: &str) {
    eprintln!("bench: {msg}");
}

fn server_env(cmd: &mut Command, config: &Path, port: u16, certs: &CertDir) {
    let id = certs.plugin();
    cmd.env("PLUGINS_CONFIG_PATH", config)
        .env("PLUGINS_SERVER_HOST", "127.0.0.1")
        .env("PLUGINS_SERVER_PORT", port.to_string())
        .env("PLUGINS_SERVER_SSL_ENABLED", "true")
        .env("PLUGINS_SERVER_SSL_CERTFILE", &id.cert)
        .env("PLUGINS_SERVER_SSL_KEYFILE", &id.key)
        .env("PLUGINS_SERVER_SSL_CA_CERTS", &id.ca)
        .env("PLUGINS_SERVER_SSL_CERT_REQS", "2")
        .env_remove("PLUGINS_SERVER_UDS");
}

struct Ctx {
    args: SuiteArgs,
    work: PathBuf,
    certs: CertDir,
    server_yaml: PathBuf,
    py: Option<PythonEnv>,
    notes: Vec<String>,
}

impl Ctx {
    fn start(&self, kind: Kind, n: usize) -> Result<Server> {
        let port = free_port_pair()?;
        let log = self.work.join(format!("{kind:?}-{n}.log").to_lowercase());
        let cmd = match kind {
            Kind::Plugwire => {
                let mut cmd = Command::new(&self.args.plugwire);
                cmd.arg("serve");
                cmd
            }
            Kind::Python => {
                let py = self.py.as_ref().ok_or_else(|| BenchError::Run {
                    what: "Python runtime".into(),
                    reason: "no venv".into(),
                })?;
                let mut cmd = Command::new(&py.python);
                cmd.arg(&py.runtime)
                    .env("PLUGINS_TRANSPORT", "http")
                    .env("PYTHONPATH", &py.plugins);
                cmd
            }
            Kind::Limit => {
                return Server::start_limit(&std::env::current_exe()?, &self.certs.plugin())
            }
        };
        let mut cmd = cmd;
        server_env(&mut cmd, &self.server_yaml, port, &self.certs);
        cmd.current_dir(&self.work);
        Server::start(
            kind.label(),
            cmd,
            port,
            port + 1000,
            &log,
            Duration::from_secs(60),
        )
    }

    fn target(&self, port: u16) -> Result<Arc<Target>> {
        let tls = crate::tlsfiles::client_config(&self.certs.gateway())?;
        Ok(Arc::new(Target::new(
            ([127, 0, 0, 1], port).into(),
            "localhost",
            "/mcp",
            tls,
        )))
    }
}

/// Max RSS of each watched pid while load runs, sampled every 10 ms.
#[derive(Clone, Default)]
struct RssWatch(Arc<Mutex<HashMap<u32, u64>>>);

impl RssWatch {
    fn spawn(&self, pids: Vec<u32>) -> tokio::task::JoinHandle<()> {
        let map = self.0.clone();
        tokio::spawn(async move {
            loop {
                for &pid in &pids {
                    if let Some(kib) = procfs::rss_kib(pid) {
                        if let Ok(mut m) = map.lock() {
                            let e = m.entry(pid).or_insert(0);
                            *e = (*e).max(kib);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }
    fn max(&self, pid: u32) -> Option<u64> {
        self.0.lock().ok()?.get(&pid).copied()
    }
}

/// An extra, unmeasured c=16 run under `perf record -e cpu-clock` (software clock: hardware
/// counters are often missing in VMs); returns the hottest symbols of the server process.
async fn profile(
    ctx: &Ctx,
    target: &Arc<Target>,
    session: &load::Session,
    server: &Server,
) -> Result<String> {
    let data = ctx.work.join(format!("perf-{}.data", server.port));
    let mut perf = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "2000", "-g", "-o"])
        .arg(&data)
        .args(["-p", &server.pid().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            what: "perf (Debian: linux-perf)".into(),
            source,
        })?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = gen_sample(ctx, target, session, server, 16, ctx.args.calls_fast, false).await;
    let _ = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let _ = perf.wait();
    let out = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "-g",
            "none",
            "--percent-limit",
            "1.5",
            "--sort",
            "dso,symbol",
            "-i",
        ])
        .arg(&data)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .take(30)
        .map(|l| {
            // Drop the empty trailing columns perf pads with ("-      -").
            let mut l = l.trim_end();
            while let Some(rest) = l.strip_suffix('-') {
                l = rest.trim_end();
            }
            l.to_string()
        })
        .collect();
    if lines.is_empty() {
        return Err(BenchError::Run {
            what: "perf report".into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(lines.join("\n"))
}

/// Times `plugwire certs all` and the openssl script for one key type.
fn time_certs(
    ctx: &Ctx,
    key_type: &str,
    runs: usize,
) -> (CertsTiming, CertsTiming, Option<PathBuf>) {
    let mut ours = CertsTiming::new("plugwire certs all", key_type);
    let mut theirs = CertsTiming::new(
        "openssl, sequential (scripts/bench/openssl-certs.sh)",
        key_type,
    );
    let mut first_dir = None;
    for i in 0..runs {
        let dir = ctx.work.join(format!("certs-plugwire-{key_type}-{i}"));
        let _ = std::fs::remove_dir_all(&dir);
        // cwd without plugins/external/config.yaml: CA, gateway, example-plugin-a and -b.
        let t0 = Instant::now();
        let out = Command::new(&ctx.args.plugwire)
            .args(["certs", "all", "--key-type", key_type, "--dir"])
            .arg(&dir)
            .current_dir(&ctx.work)
            .output();
        let took = t0.elapsed();
        match out {
            Ok(o) if o.status.success() => {
                let expected = [
                    "ca/ca.crt",
                    "gateway/client.key",
                    "plugins/example-plugin-b/server.crt",
                ];
                if let Some(missing) = expected.iter().find(|f| !dir.join(f).is_file()) {
                    ours.error = Some(format!("exit 0 but {missing} was not written"));
                    break;
                }
                ours.runs.push(took);
                first_dir.get_or_insert(dir);
            }
            Ok(o) => {
                ours.error = Some(format!(
                    "exit {}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                break;
            }
            Err(e) => {
                ours.error = Some(format!("{}: {e}", ctx.args.plugwire.display()));
                break;
            }
        }
        let dir = ctx.work.join(format!("certs-openssl-{key_type}-{i}"));
        let _ = std::fs::remove_dir_all(&dir);
        let t0 = Instant::now();
        let out = Command::new("bash")
            .arg(ctx.args.scripts.join("openssl-certs.sh"))
            .arg(key_type)
            .arg(&dir)
            .output();
        let took = t0.elapsed();
        match out {
            Ok(o) if o.status.success() => theirs.runs.push(took),
            Ok(o) => {
                theirs.error = Some(String::from_utf8_lossy(&o.stderr).trim().to_string());
            }
            Err(e) => theirs.error = Some(e.to_string()),
        }
    }
    (ours, theirs, first_dir)
}

/// New connection per call against every server, `runs` times.
async fn handshakes(ctx: &Ctx, servers: &[(Kind, Server)], key_type: &str) -> Vec<Handshakes> {
    let args = &ctx.args;
    let mut out = Vec::new();
    for (kind, server) in servers {
        let mut series = Series {
            concurrency: args.handshake_concurrency,
            samples: Vec::new(),
        };
        let prepared = match ctx.target(server.port) {
            Ok(t) => t.open_session().await.map(|s| (t, s)),
            Err(e) => Err(e),
        };
        let (target, session) = match prepared {
            Ok(p) => p,
            Err(e) => {
                series.samples.push(Sample {
                    errors: 1,
                    first_error: Some(e.to_string()),
                    ..Sample::default()
                });
                out.push(Handshakes {
                    kind: *kind,
                    key_type: key_type.into(),
                    series,
                });
                continue;
            }
        };
        for run in 0..args.runs {
            progress(&format!(
                "run {}/{}: handshakes ({key_type}) → {}, {} new connections",
                run + 1,
                args.runs,
                kind.label(),
                args.handshakes
            ));
            let s = gen_sample(
                ctx,
                &target,
                &session,
                server,
                args.handshake_concurrency,
                args.handshakes,
                true,
            )
            .await;
            series.samples.push(s);
        }
        out.push(Handshakes {
            kind: *kind,
            key_type: key_type.into(),
            series,
        });
    }
    out
}

async fn gen_sample(
    ctx: &Ctx,
    target: &Arc<Target>,
    session: &load::Session,
    server: &Server,
    concurrency: usize,
    calls: usize,
    new_connection_per_call: bool,
) -> Sample {
    let ports0 = procfs::passive_opens();
    let spec = LoadSpec {
        concurrency,
        calls,
        new_connection_per_call,
        warmup_per_worker: if new_connection_per_call { 0 } else { 2 },
    };
    let r = load::run(
        target.clone(),
        session.clone(),
        RequestTemplate::invoke_hook(),
        spec,
        Some(server.pid()),
    )
    .await;
    let _ = ctx;
    Sample::from_load(&r, ports0)
}

fn machine(args: &SuiteArgs) -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    let argv = std::env::args().collect::<Vec<_>>().join(" ");
    let command = match &args.command {
        Some(c) => format!("`{c}`, which runs `{argv}`"),
        None => format!("`{argv}`"),
    };
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into()),
        mem_total: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .map(|v| {
                let kib: f64 = v
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(f64::NAN);
                format!("{} ({:.1} GiB)", v.trim(), kib / 1024.0 / 1024.0)
            })
            .unwrap_or_else(|| "unknown".into()),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        load_before: read("/proc/loadavg").trim().to_string(),
        busy_before: procfs::busy_fraction(Duration::from_secs(1)),
        load_after: String::new(),
        date: Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        command,
        duration: Duration::ZERO,
        versions: Vec::new(),
    }
}

fn tool_versions(ctx: &Ctx) -> Vec<(String, String)> {
    let run = |cmd: &Path, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if s.is_empty() {
                    String::from_utf8_lossy(&o.stderr).trim().to_string()
                } else {
                    s
                }
            })
            .unwrap_or_else(|| "unavailable".into())
    };
    let mut v = vec![
        ("plugwire".into(), run(&ctx.args.plugwire, &["--version"])),
        ("openssl".into(), run(Path::new("openssl"), &["version"])),
    ];
    if let Some(py) = &ctx.py {
        v.push(("python".into(), run(&py.python, &["--version"])));
        v.push((
            "mcp-contextforge-gateway".into(),
            run(
                &py.python,
                &[
                    "-c",
                    "import importlib.metadata as m; print(m.version('mcp-contextforge-gateway'))",
                ],
            ),
        ));
    }
    v
}

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
    write(&args.out, &report.render())
}

/// Runs everything and writes the report.
pub async fn run(mut args: SuiteArgs, threads: usize) -> Result<()> {
    args.apply_smoke();
    let t_suite = Instant::now();
    let mut m = machine(&args);
    let tmp = tempfile::tempdir()?;
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            std::fs::canonicalize(d)?
        }
        None => tmp.path().to_path_buf(),
    };
    let scripts = std::fs::canonicalize(&args.scripts).map_err(|source| BenchError::Read {
        path: args.scripts.clone(),
        source,
    })?;
    args.scripts = scripts.clone();
    let interop = std::path::absolute(&args.interop)?;
    let py = if args.no_python {
        None
    } else if args.python.exists() {
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
        Some(env)
    } else {
        return Err(BenchError::Run {
            what: "Python peer".into(),
            reason: format!(
                "{} does not exist: run `make venv` first (or pass --no-python)",
                args.python.display()
            ),
        });
    };
    if let Ok(p) = std::fs::canonicalize(&args.plugwire) {
        args.plugwire = p;
    }
    let mut ctx = Ctx {
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
    let mut report = Report::new(m, args.clone(), threads);

    // 1. `certs all` against openssl; the servers then use plugwire's certificates.
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
        let (ours, theirs, dir) = time_certs(&ctx, key_type, runs);
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
            certgen::generate(&work.join("certs-harness"), "example-plugin-a")?
        }
    };
    report.server_key_type = if ctx.notes.is_empty() {
        args.key_type.clone()
    } else {
        "ecdsa-p256 (harness)".into()
    };
    write(&ctx.server_yaml, SERVER_YAML)?;

    // 2. Start-to-healthy and idle RSS; the last start of each server stays up.
    let mut servers: Vec<(Kind, Server)> = Vec::new();
    let mut kinds = vec![Kind::Limit, Kind::Plugwire];
    if ctx.py.is_some() {
        kinds.push(Kind::Python);
    }
    for &kind in &kinds {
        let starts = match kind {
            Kind::Limit => 1,
            Kind::Plugwire => args.starts.max(1),
            Kind::Python => args.starts.clamp(1, 3),
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
    let watch = RssWatch::default();
    let watcher = watch.spawn(servers.iter().map(|(_, s)| s.pid()).collect());

    // 3. The same load generator against every server, interleaved run by run.
    let mut targets = HashMap::new();
    for (kind, s) in &servers {
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
    let mut gen: HashMap<Kind, PairResult> = HashMap::new();
    for run in 0..args.runs {
        for &c in &args.concurrency {
            for (kind, server) in &servers {
                let Some((target, session)) = targets.get(kind) else {
                    continue;
                };
                let calls = if *kind == Kind::Python {
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
                let sample = gen_sample(&ctx, target, session, server, c, calls, false).await;
                gen.entry(*kind)
                    .or_insert_with(|| PairResult::new("gen", "Rust load generator", *kind))
                    .push(c, sample);
            }
        }
    }
    for kind in [Kind::Limit, Kind::Plugwire, Kind::Python] {
        if let Some(p) = gen.remove(&kind) {
            report.pairs.push(p);
        }
    }
    if !args.no_profile {
        for (kind, server) in &servers {
            if *kind == Kind::Python {
                continue;
            }
            let Some((target, session)) = targets.get(kind) else {
                continue;
            };
            progress(&format!(
                "profiled extra run (perf): load generator → {}, c=16",
                kind.label()
            ));
            match profile(&ctx, target, session, server).await {
                Ok(text) => report.profiles.push((*kind, text)),
                Err(e) => ctx
                    .notes
                    .push(format!("perf profile of {}: {e}", kind.label())),
            }
        }
    }

    // 4. The plugwire gateway client (PluginManager + ExternalPlugin) against both servers.
    for (kind, server) in &servers {
        if *kind == Kind::Limit {
            continue;
        }
        let yaml = work.join(format!("gateway-{}.yaml", server.port));
        write(&yaml, &gateway_yaml(server.port, &ctx.certs))?;
        let mut pair = PairResult::new("pwc", "plugwire client", *kind);
        match pwclient::Gateway::connect(&yaml).await {
            Ok(gw) => {
                let gw = Arc::new(gw);
                let calls = if *kind == Kind::Python {
                    args.calls_slow
                } else {
                    args.calls_fast
                };
                for run in 0..args.runs {
                    for &c in &args.concurrency {
                        progress(&format!(
                            "run {}/{}: plugwire client → {}, c={c}, {calls} calls",
                            run + 1,
                            args.runs,
                            kind.label()
                        ));
                        let s = pwclient::run(gw.clone(), c, calls, server.pid()).await;
                        pair.push(c, s);
                    }
                }
                gw.shutdown().await;
            }
            Err(e) => pair.error = Some(e.to_string()),
        }
        report.pairs.push(pair);
    }

    // 5. The Python gateway client against both servers.
    if let Some(py) = ctx.py.clone() {
        for (kind, server) in &servers {
            if *kind == Kind::Limit {
                continue;
            }
            let yaml = work.join(format!("gateway-{}.yaml", server.port));
            let mut steps = Vec::new();
            for _ in 0..args.runs {
                for &c in &args.concurrency {
                    steps.push(Step {
                        concurrency: c,
                        calls: args.calls_python_client,
                    });
                }
            }
            progress(&format!(
                "Python client → {}: {} steps of {} calls",
                kind.label(),
                steps.len(),
                args.calls_python_client
            ));
            let log = work.join(format!("pyclient-{kind:?}.log").to_lowercase());
            let mut pair = PairResult::new("pyc", "Python client 1.0.0", *kind);
            let server_pid = server.pid();
            let port = server.port;
            let (py2, work2, yaml2) = (py.clone(), work.clone(), yaml.clone());
            let steps2 = steps.clone();
            let res = tokio::task::spawn_blocking(move || {
                pyclient::run(&py2, &work2, &yaml2, &steps2, server_pid, port, &log)
            })
            .await
            .map_err(|e| BenchError::Run {
                what: "Python client".into(),
                reason: e.to_string(),
            })?;
            match res {
                Ok(samples) => {
                    for (step, s) in steps.iter().zip(samples) {
                        pair.push(step.concurrency, s);
                    }
                }
                Err(e) => pair.error = Some(e.to_string()),
            }
            report.pairs.push(pair);
        }
    }

    // 6. RSS under load (peak while the runs above went on) and idle again afterwards.
    watcher.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (kind, server) in &servers {
        if let Some(fp) = report.footprints.iter_mut().find(|f| f.kind == *kind) {
            fp.rss_peak_kib = watch.max(server.pid());
            fp.rss_after_kib = procfs::rss_kib(server.pid());
        }
    }

    // 7. TLS handshakes: a new connection for every call; then the same with the other key type.
    let key_label = report.server_key_type.clone();
    report
        .handshakes
        .extend(handshakes(&ctx, &servers, &key_label).await);
    for (key_type, root) in &cert_dirs {
        if *key_type == args.key_type || report.server_key_type != args.key_type {
            continue;
        }
        for (_, mut s) in servers.drain(..) {
            s.stop();
        }
        ctx.certs = CertDir {
            root: root.clone(),
            plugin: "example-plugin-a".into(),
        };
        for &kind in &kinds {
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
            .extend(handshakes(&ctx, &servers, key_type).await);
    }

    for (_, mut s) in servers {
        s.stop();
    }
    if let Some(b) = report.machine.busy_before.filter(|b| *b > 0.2) {
        ctx.notes.push(format!(
            "The machine was busy when this run started ({:.0} % of all cores in use by other processes in \
             the second before it): they competed with the clients and servers for the CPU, so the figures \
             are lower, and noisier, than on an idle machine.",
            b * 100.0
        ));
    }
    report.notes.append(&mut ctx.notes);
    report.machine.load_after = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string();
    report.machine.duration = t_suite.elapsed();
    let text = report.render();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write(&args.out, &text)?;
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
