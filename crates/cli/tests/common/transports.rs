//! `plugwire serve` with gRPC and the raw socket as a child process, as the transport tests run
//! it: the certificates (`plugwire certs all`, ECDSA), the gRPC server's mTLS variables, and the
//! server with its start-up line and log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

use super::{KillOnDrop, BIN, NO_HANG};

/// `plugwire` run in `dir` with an empty environment but `RUST_LOG=info`.
pub fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().current_dir(dir).env("RUST_LOG", "info");
    c
}

/// `DIR/NAME` as a string, for environment values and YAML.
pub fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// `plugwire certs all` into `DIR/out` (ECDSA keys: fast).
pub fn make_certs(dir: &Path) {
    let out = cmd(dir)
        .args(["certs", "all", "--dir", "out", "--key-type", "ecdsa"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// `plugwire call` of `tool_pre_invoke` with `payload` through the gateway config `gateway`
/// (written to `DIR/gateway.yaml`), logging warnings only; the caller adds flags and runs it.
pub fn hook_call(dir: &Path, gateway: &str, payload: &str) -> Command {
    std::fs::write(dir.join("gateway.yaml"), gateway).unwrap();
    let mut c = cmd(dir);
    c.env("RUST_LOG", "warn").args([
        "call",
        "--config",
        "gateway.yaml",
        "--hook",
        "tool_pre_invoke",
        "--payload",
        payload,
    ]);
    c
}

/// `plugwire health`'s TLS flags for the gateway identity of [`make_certs`] (paths relative to
/// the directory the commands run in).
pub const GATEWAY_IDENTITY_FLAGS: [&str; 6] = [
    "--ca-bundle",
    "out/ca/ca.crt",
    "--certfile",
    "out/gateway/client.crt",
    "--keyfile",
    "out/gateway/client.key",
];

/// `PLUGINS_GRPC_SERVER_*` for gRPC with mTLS on 127.0.0.1:0, with the certificates of
/// [`make_certs`] (`example-plugin-a`'s identity).
pub fn grpc_mtls_server_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("PLUGINS_GRPC_SERVER_HOST", "127.0.0.1".into()),
        ("PLUGINS_GRPC_SERVER_PORT", "0".into()),
        ("PLUGINS_GRPC_SERVER_SSL_ENABLED", "true".into()),
        (
            "PLUGINS_GRPC_SERVER_SSL_CERTFILE",
            p(dir, "out/plugins/example-plugin-a/server.crt"),
        ),
        (
            "PLUGINS_GRPC_SERVER_SSL_KEYFILE",
            p(dir, "out/plugins/example-plugin-a/server.key"),
        ),
        ("PLUGINS_GRPC_SERVER_SSL_CA_CERTS", p(dir, "out/ca/ca.crt")),
    ]
}

/// `plugwire serve --config server.yaml --transport TRANSPORTS` in `dir` with `env` and no
/// stdin; the caller sets stdout and stderr and runs it.
pub fn serve_transports(dir: &Path, transports: &str, env: &[(&str, String)]) -> Command {
    let mut c = cmd(dir);
    c.args([
        "serve",
        "--config",
        "server.yaml",
        "--transport",
        transports,
    ])
    .envs(env.iter().map(|(k, v)| (k, v)))
    .stdin(Stdio::null());
    c
}

/// A running `plugwire serve` (killed when dropped) and its log.
pub struct Server {
    child: KillOnDrop,
    /// The start-up line saying what listens where.
    pub line: String,
    log: mpsc::Receiver<String>,
    /// Log lines read so far.
    pub seen: Vec<String>,
}

impl Server {
    /// `plugwire serve --transport TRANSPORTS` in `dir`, serving the plugins YAML `yaml` with
    /// `env`, once its start-up line (naming the gRPC or raw-socket listener) is logged.
    pub fn start(dir: &Path, yaml: &str, transports: &str, env: &[(&str, String)]) -> Server {
        std::fs::write(dir.join("server.yaml"), yaml).unwrap();
        let mut child = serve_transports(dir, transports, env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child: KillOnDrop::new(child),
            line: String::new(),
            log,
            seen: Vec::new(),
        };
        let start_up = |l: &str| l.contains("gRPC at ") || l.contains("raw socket at ");
        let line = server.wait_for_log(start_up);
        server.line =
            line.unwrap_or_else(|| panic!("no start-up line:\n{}", server.seen.join("\n")));
        server
    }

    /// The first log line for which `wanted` holds (waiting for it), or `None` once the log
    /// ends (the server exited) or stays quiet for [`NO_HANG`].
    pub fn wait_for_log(&mut self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        if let Some(l) = self.seen.iter().find(|l| wanted(l)) {
            return Some(l.clone());
        }
        while let Ok(line) = self.log.recv_timeout(NO_HANG) {
            self.seen.push(line.clone());
            if wanted(&line) {
                return Some(line);
            }
        }
        None
    }

    /// What follows `scheme` in the start-up line: `127.0.0.1:PORT` after `grpcs://`.
    pub fn at(&self, scheme: &str) -> String {
        let rest = self.line.split(scheme).nth(1);
        let rest = rest.unwrap_or_else(|| panic!("no {scheme} in: {}", self.line));
        rest.split_whitespace().next().unwrap().to_string()
    }

    /// The port of the `grpcs://` listener.
    pub fn grpcs_port(&self) -> String {
        self.at("grpcs://").rsplit(':').next().unwrap().to_string()
    }

    /// SIGTERM, then the exit status and the whole log (it ends when the server exits).
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        self.seen.extend(self.log.iter());
        (status, self.seen.join("\n") + "\n")
    }
}
