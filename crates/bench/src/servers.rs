//! The processes under test and how the harness reaches them: the server YAML, the gateway
//! YAML of each client, starting each server kind, and watching their memory while load runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::args::{Kind, SuiteArgs, Transport};
use crate::certgen::CertDir;
use crate::error::{BenchError, Result};
use crate::load::Target;
use crate::payload::PLUGIN_NAME;
use crate::procfs;
use crate::procs::{free_port_pair, Endpoint, Ready, Server};
use crate::pyclient::PythonEnv;
use crate::report::RssTrace;

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

/// A gateway config with one `kind: external` MCP entry for the server at `port`.
pub fn gateway_yaml(port: u16, certs: &CertDir) -> String {
    let gw = certs.gateway();
    entry_yaml(&format!(
        "mcp:\n      proto: STREAMABLEHTTP\n      url: https://localhost:{port}/mcp\n      tls:\n        \
         certfile: {}\n        keyfile: {}\n        ca_bundle: {}\n        verify: true\n        check_hostname: true\n",
        gw.cert.display(),
        gw.key.display(),
        gw.ca.display()
    ))
}

/// A gateway config with one `kind: external` entry reaching `server` over its transport.
pub fn gateway_yaml_for(kind: Kind, server: &Server, certs: &CertDir) -> Result<String> {
    let gw = certs.gateway();
    let missing = || BenchError::Run {
        what: format!("gateway config for {}", kind.label()),
        reason: format!(
            "the server has no endpoint for {}",
            kind.transport().label()
        ),
    };
    let transport = match (kind.transport(), &server.endpoint) {
        (Transport::Mcp, _) => return Ok(gateway_yaml(server.port, certs)),
        (Transport::GrpcTls, Endpoint::Tcp(port)) => format!(
            "grpc:\n      target: localhost:{port}\n      tls:\n        certfile: {}\n        \
             keyfile: {}\n        ca_bundle: {}\n        verify: true\n",
            gw.cert.display(),
            gw.key.display(),
            gw.ca.display()
        ),
        (Transport::GrpcUds, Endpoint::Unix(path)) => {
            format!("grpc:\n      uds: {}\n", path.display())
        }
        // hooks/mode/priority in the entry itself: ContextForge's raw-socket client fetches the
        // server's config but never merges it, so without local hooks it would call nothing.
        (Transport::Raw, Endpoint::Unix(path)) => format!(
            "hooks: [tool_pre_invoke]\n    unix_socket:\n      path: {}\n",
            path.display()
        ),
        _ => return Err(missing()),
    };
    Ok(entry_yaml(&transport))
}

fn entry_yaml(transport: &str) -> String {
    format!(
        "plugin_settings:\n  plugin_timeout: 30\n  fail_on_plugin_error: false\nplugin_dirs: []\nplugins:\n  \
         - name: {PLUGIN_NAME}\n    kind: external\n    mode: enforce\n    priority: 150\n    {transport}"
    )
}

pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| BenchError::Write {
        path: path.into(),
        source,
    })
}

pub(crate) fn progress(msg: &str) {
    eprintln!("bench: {msg}");
}

pub(crate) fn server_env(cmd: &mut Command, config: &Path, port: u16, certs: &CertDir) {
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

/// ContextForge 1.0.0's gRPC and raw-socket plugin runtimes (`python -m`).
const GRPC_RUNTIME: &str = "mcpgateway.plugins.framework.external.grpc.server.runtime";
const UNIX_RUNTIME: &str = "mcpgateway.plugins.framework.external.unix.server.runtime";

/// A Unix socket path, refused when too long for `sun_path` (108 bytes with the NUL).
fn socket_path(path: PathBuf) -> Result<PathBuf> {
    if path.as_os_str().len() > 100 {
        return Err(BenchError::Run {
            what: "Unix socket".into(),
            reason: format!(
                "{} is too long for a socket path (at most 100 bytes): use a shorter --work-dir",
                path.display()
            ),
        });
    }
    Ok(path)
}

/// What every phase of the suite shares: options, work directory, certificates, the Python
/// peer, and the notes the report prints.
pub(crate) struct Ctx {
    pub(crate) args: SuiteArgs,
    pub(crate) work: PathBuf,
    pub(crate) certs: CertDir,
    pub(crate) server_yaml: PathBuf,
    pub(crate) py: Option<PythonEnv>,
    pub(crate) notes: Vec<String>,
}

impl Ctx {
    /// Starts one server of `kind` (the `n`th start, for its log name) and waits until it is
    /// ready: `/health` on port+1000 for every `plugwire serve` and the Python MCP runtime, the
    /// start-up log line for the Python gRPC and raw-socket runtimes (which have no health port).
    pub(crate) fn start(&self, kind: Kind, n: usize) -> Result<Server> {
        if kind == Kind::Limit {
            return Server::start_limit(&std::env::current_exe()?, &self.certs.plugin());
        }
        let port = free_port_pair()?;
        let name = format!("{kind:?}-{n}").to_lowercase();
        let log = self.work.join(format!("{name}.log"));
        let socket = self.work.join(format!("{name}.sock"));
        let mut cmd = match kind {
            k if k.is_python() => self.python_cmd(kind)?,
            _ => {
                let mut cmd = Command::new(&self.args.plugwire);
                cmd.arg("serve");
                cmd
            }
        };
        server_env(&mut cmd, &self.server_yaml, port, &self.certs);
        cmd.current_dir(&self.work);
        let mut endpoint = Endpoint::Mcp;
        let mut ready = Ready::Health(port + 1000);
        match kind {
            Kind::PlugwireNoMetrics => {
                cmd.env("ENABLE_METRICS", "false");
            }
            Kind::PlugwireGrpc | Kind::PythonGrpc => {
                let grpc_port = free_port_pair()?;
                self.grpc_tls_env(&mut cmd, grpc_port);
                endpoint = Endpoint::Tcp(grpc_port);
            }
            Kind::PlugwireGrpcUds | Kind::PythonGrpcUds => {
                cmd.env("PLUGINS_GRPC_SERVER_UDS", &socket);
                endpoint = Endpoint::Unix(socket_path(socket)?);
            }
            Kind::PlugwireUnix | Kind::PythonUnix => {
                cmd.env("PLUGINS_UNIX_SOCKET_PATH", &socket);
                endpoint = Endpoint::Unix(socket_path(socket)?);
            }
            _ => {}
        }
        match kind {
            Kind::PlugwireGrpc | Kind::PlugwireGrpcUds => {
                cmd.args(["--transport", "http,grpc"]);
            }
            Kind::PlugwireUnix => {
                cmd.args(["--transport", "http,unix"]);
            }
            Kind::PythonGrpc | Kind::PythonGrpcUds => {
                ready = Ready::LogLine("gRPC plugin server started on");
            }
            Kind::PythonUnix => ready = Ready::LogLine("READY"),
            _ => {}
        }
        let mut server = Server::start(
            kind.label(),
            cmd,
            port,
            ready,
            &log,
            Duration::from_secs(60),
        )?;
        server.endpoint = endpoint;
        Ok(server)
    }

    /// The Python runtime of `kind`, with the interop tests' plugin modules on `PYTHONPATH`.
    fn python_cmd(&self, kind: Kind) -> Result<Command> {
        let py = self.py.as_ref().ok_or_else(|| BenchError::Run {
            what: kind.label().into(),
            reason: "no Python venv (--no-python)".into(),
        })?;
        let mut cmd = Command::new(&py.python);
        match kind {
            Kind::PythonGrpc | Kind::PythonGrpcUds => {
                cmd.args(["-m", GRPC_RUNTIME, "--config"])
                    .arg(&self.server_yaml);
            }
            Kind::PythonUnix => {
                cmd.args(["-m", UNIX_RUNTIME]);
            }
            _ => {
                cmd.arg(&py.runtime).env("PLUGINS_TRANSPORT", "http");
            }
        }
        // The plugin modules import the interop tests' `era` module, which sits beside them.
        let interop = py.runtime.parent().unwrap_or(Path::new("."));
        let path =
            std::env::join_paths([py.plugins.as_path(), interop]).map_err(|e| BenchError::Run {
                what: "PYTHONPATH".into(),
                reason: e.to_string(),
            })?;
        cmd.env("PYTHONPATH", path)
            .env("PYTHONUNBUFFERED", "1")
            .env("INTEROP_ERA", "1.0.0");
        Ok(cmd)
    }

    /// `PLUGINS_GRPC_SERVER_*` for mTLS on 127.0.0.1:`port` (the names both plugwire and the
    /// Python runtime read).
    fn grpc_tls_env(&self, cmd: &mut Command, port: u16) {
        let id = self.certs.plugin();
        cmd.env("PLUGINS_GRPC_SERVER_HOST", "127.0.0.1")
            .env("PLUGINS_GRPC_SERVER_PORT", port.to_string())
            .env("PLUGINS_GRPC_SERVER_SSL_ENABLED", "true")
            .env("PLUGINS_GRPC_SERVER_SSL_CERTFILE", &id.cert)
            .env("PLUGINS_GRPC_SERVER_SSL_KEYFILE", &id.key)
            .env("PLUGINS_GRPC_SERVER_SSL_CA_CERTS", &id.ca)
            .env("PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH", "require");
    }

    pub(crate) fn target(&self, port: u16) -> Result<Arc<Target>> {
        let tls = crate::tlsfiles::client_config(&self.certs.gateway())?;
        Ok(Arc::new(Target::new(
            ([127, 0, 0, 1], port).into(),
            "localhost",
            "/mcp",
            tls,
        )))
    }
}

/// RSS of each watched server while load runs: sampled every 10 ms for the peak, and every
/// 250 ms into a trace for the chart of RSS over the run.
#[derive(Clone, Default)]
pub(crate) struct RssWatch(Arc<Mutex<HashMap<Kind, Watched>>>);

/// One watched server: pid, peak KiB, trace of (seconds, KiB).
type Watched = (u32, u64, Vec<(f64, u64)>);

impl RssWatch {
    pub(crate) fn spawn(&self, servers: Vec<(Kind, u32)>) -> tokio::task::JoinHandle<()> {
        let map = self.0.clone();
        let t0 = std::time::Instant::now();
        tokio::spawn(async move {
            for tick in 0u64.. {
                for &(kind, pid) in &servers {
                    let Some(kib) = procfs::rss_kib(pid) else {
                        continue;
                    };
                    if let Ok(mut m) = map.lock() {
                        let e = m.entry(kind).or_insert((pid, 0, Vec::new()));
                        e.1 = e.1.max(kib);
                        if tick % 25 == 0 {
                            e.2.push((t0.elapsed().as_secs_f64(), kib));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }

    /// The peak RSS of `pid` seen so far.
    pub(crate) fn max(&self, pid: u32) -> Option<u64> {
        let m = self.0.lock().ok()?;
        m.values().find(|e| e.0 == pid).map(|e| e.1)
    }

    /// Every server's trace: (seconds since the watch started, KiB).
    pub(crate) fn traces(&self) -> Vec<RssTrace> {
        let Ok(m) = self.0.lock() else {
            return Vec::new();
        };
        let mut out: Vec<RssTrace> = m
            .iter()
            .map(|(kind, e)| RssTrace {
                kind: *kind,
                points: e.2.clone(),
            })
            .collect();
        out.sort_by_key(|t| format!("{:?}", t.kind));
        out
    }
}
