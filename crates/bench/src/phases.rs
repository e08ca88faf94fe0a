//! The measuring steps of the suite that are not load against one pair: the perf profile, the
//! `certs all` timing, handshakes, one load-generator sample, and the machine description.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::{Kind, SuiteArgs};
use crate::error::{BenchError, Result};
use crate::load::{self, LoadSpec, Target};
use crate::measure::{Sample, Series};
use crate::payload::RequestTemplate;
use crate::procfs;
use crate::procs::Server;
use crate::report::{CertsTiming, Handshakes, Machine};
use crate::servers::{progress, Ctx};

/// An extra, unmeasured c=16 run under `perf record -e cpu-clock` (software clock: hardware
/// counters are often missing in VMs); returns the hottest symbols of the server process.
pub(crate) async fn profile(
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
pub(crate) fn time_certs(
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
pub(crate) async fn handshakes(
    ctx: &Ctx,
    servers: &[(Kind, Server)],
    key_type: &str,
) -> Vec<Handshakes> {
    let args = &ctx.args;
    let mut out = Vec::new();
    for (kind, server) in servers {
        if !kind.is_mcp_core() {
            continue;
        }
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

pub(crate) async fn gen_sample(
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

pub(crate) fn machine(args: &SuiteArgs) -> Machine {
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
        steal_during: None,
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

pub(crate) fn tool_versions(ctx: &Ctx) -> Vec<(String, String)> {
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
        (
            "link order".into(),
            crate::linkorder::describe(&ctx.args.plugwire, &ctx.args.link_order),
        ),
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
