"""Harness for the non-MCP transports (gRPC and the raw Unix socket) and for MCP over a Unix socket.

Servers: the running era's gRPC runtime (`<framework>.external.grpc.server.runtime`, TCP with mTLS
from env or from the YAML's `grpc_server_settings`, or a Unix socket), its raw Unix-socket runtime
(`<framework>.external.unix.server.runtime`, socket from PLUGINS_UNIX_SOCKET_PATH, prints `READY`),
and `plugwire serve` over a Unix socket (MCP) or `--transport grpc|unix`. Gateway side: configs for
the Python gateway's `GrpcExternalPlugin` (`grpc: {target, tls}` / `grpc: {uds}`) and
`UnixSocketExternalPlugin` (`unix_socket: {path}`) entries, driven by pyclient.py like MCP entries.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import cases
import harness
from harness import ERA, START_TIMEOUT, CertSet, Proc, ProcGroup


# ------------------------------------------------------------------------------------- readiness
def wait_log_line(proc: Proc, needle: str, timeout: float = START_TIMEOUT) -> str:
    """Wait until the process log contains `needle`; fail with the log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proc.log_text()
        if needle in text:
            return text
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before {needle!r}:\n{text}")
        time.sleep(0.1)
    raise AssertionError(f"{proc.name}: no {needle!r} after {timeout}s:\n{proc.log_text()}")


def uds_http_get(path: Path, target: str = "/health") -> tuple[int, bytes]:
    """One plain HTTP/1.1 GET over a Unix socket; returns (status, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def wait_uds_http_ready(proc: Proc, path: Path, timeout: float = START_TIMEOUT) -> None:
    """Wait until GET /health over the Unix socket answers 200."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before listening:\n{proc.log_text()}")
        try:
            status, body = uds_http_get(path)
            if status == 200:
                return
            last = AssertionError(f"status {status}: {body!r}")
        except (OSError, ValueError, IndexError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} not ready on {path} after {timeout}s ({last!r}):\n{proc.log_text()}")


def socket_path(workdir: Path, name: str) -> Path:
    """A socket path in the test's temp dir, short enough for sun_path (108 bytes)."""
    path = workdir / f"{name}.sock"
    if len(str(path)) > 100:
        raise AssertionError(f"socket path too long for AF_UNIX: {path}")
    return path


# -------------------------------------------------------------------------- MCP over a Unix socket
def start_plugwire_serve_uds(group: ProcGroup, path: Path, config: Path, name: str = "plugwire-serve-uds") -> Proc:
    """`plugwire serve` over MCP on a Unix socket (PLUGINS_SERVER_UDS, no TLS)."""
    env = harness.base_env(PLUGINS_SERVER_UDS=str(path), LOG_LEVEL="DEBUG")
    proc = group.start(name, [harness.PLUGWIRE, "serve", "--config", config], env)
    wait_uds_http_ready(proc, path)
    return proc


def mcp_uds_gateway_config(path: Path) -> dict:
    """Both plugins as `kind: external` MCP entries over the Unix socket (`mcp.uds`)."""
    plugins = [{"name": name, "kind": "external",
                "mcp": {"proto": "STREAMABLEHTTP", "url": "http://localhost/mcp", "uds": str(path)}}
               for name in cases.PLUGIN_NAMES]
    return {"plugins": plugins, "plugin_settings": {"plugin_timeout": 30, "fail_on_plugin_error": True}}


# -------------------------------------------------------------------------------- gRPC servers
def grpc_server_tls_env(certs: CertSet, client_auth: str = "require") -> dict[str, str]:
    """PLUGINS_GRPC_SERVER_SSL_* for mTLS with this tree (read only when SSL_ENABLED=true)."""
    return {
        "PLUGINS_GRPC_SERVER_SSL_ENABLED": "true",
        "PLUGINS_GRPC_SERVER_SSL_CERTFILE": str(certs.server_cert),
        "PLUGINS_GRPC_SERVER_SSL_KEYFILE": str(certs.server_key),
        "PLUGINS_GRPC_SERVER_SSL_CA_CERTS": str(certs.ca),
        "PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH": client_auth,
    }


def grpc_server_settings_yaml(port: int, certs: CertSet, client_auth: str = "require") -> dict:
    """The server YAML's `grpc_server_settings` block (upstream ignores every env var when it is present)."""
    return {"host": "127.0.0.1", "port": port,
            "tls": {"certfile": str(certs.server_cert), "keyfile": str(certs.server_key), "ca_bundle": str(certs.ca),
                    "client_auth": client_auth}}


def start_python_grpc_server(group: ProcGroup, config: Path, *, port: int | None = None, certs: CertSet | None = None,
                             uds: Path | None = None, tls_from: str = "env",
                             name: str = "python-grpc-server") -> Proc:
    """The running era's gRPC plugin runtime on 127.0.0.1:PORT (mTLS) or on a Unix socket (no TLS).

    tls_from="env": PLUGINS_GRPC_SERVER_{HOST,PORT} + SSL_* (certs required); "yaml": the caller's
    config already has `grpc_server_settings` (see grpc_server_settings_yaml); None with `uds`.
    Ready when the runtime logs that it started.
    """
    env = harness.python_env(PLUGINS_CONFIG_PATH=str(config))
    if uds is not None:
        env["PLUGINS_GRPC_SERVER_UDS"] = str(uds)
    elif tls_from == "env":
        assert port is not None and certs is not None, "gRPC over TCP needs a port and certificates"
        env.update(PLUGINS_GRPC_SERVER_HOST="127.0.0.1", PLUGINS_GRPC_SERVER_PORT=str(port), **grpc_server_tls_env(certs))
    proc = group.start(name, [sys.executable, "-m", ERA.grpc_runtime, "--config", config], env)
    wait_log_line(proc, "gRPC plugin server started on")
    return proc


def start_python_unix_server(group: ProcGroup, config: Path, path: Path, name: str = "python-unix-server") -> Proc:
    """The running era's raw Unix-socket plugin runtime; the socket path comes only from the env."""
    env = harness.python_env(PLUGINS_CONFIG_PATH=str(config), PLUGINS_UNIX_SOCKET_PATH=str(path))
    proc = group.start(name, [sys.executable, "-m", ERA.unix_runtime], env)
    wait_log_line(proc, "READY")
    return proc


# ------------------------------------------------------------------------- plugwire, gRPC / unix
def start_plugwire_serve_grpc(group: ProcGroup, config: Path, *, port: int | None = None, certs: CertSet | None = None,
                              uds: Path | None = None, name: str = "plugwire-serve-grpc") -> Proc:
    """`plugwire serve --transport grpc` with upstream's PLUGINS_GRPC_SERVER_* settings.

    Ready when a TLS handshake succeeds (TCP) or the socket file exists and accepts (UDS).
    """
    env = harness.base_env(LOG_LEVEL="DEBUG")
    if uds is not None:
        env["PLUGINS_GRPC_SERVER_UDS"] = str(uds)
    else:
        assert port is not None and certs is not None
        env.update(PLUGINS_GRPC_SERVER_HOST="127.0.0.1", PLUGINS_GRPC_SERVER_PORT=str(port), **grpc_server_tls_env(certs))
    proc = group.start(name, [harness.PLUGWIRE, "serve", "--transport", "grpc", "--config", config], env)
    if uds is not None:
        _wait_unix_accepts(proc, uds)
    else:
        harness.wait_tls_ready(proc, port, certs)
    return proc


def start_plugwire_serve_unix(group: ProcGroup, config: Path, path: Path, name: str = "plugwire-serve-unix") -> Proc:
    """`plugwire serve --transport unix` with upstream's PLUGINS_UNIX_SOCKET_PATH."""
    env = harness.base_env(LOG_LEVEL="DEBUG", PLUGINS_UNIX_SOCKET_PATH=str(path))
    proc = group.start(name, [harness.PLUGWIRE, "serve", "--transport", "unix", "--config", config], env)
    _wait_unix_accepts(proc, path)
    return proc


def _wait_unix_accepts(proc: Proc, path: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before listening:\n{proc.log_text()}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(path))
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{proc.name}: {path} does not accept after {timeout}s:\n{proc.log_text()}")


# ------------------------------------------------------------------------------ gateway configs
def grpc_gateway_config(*, port: int | None = None, certs: CertSet | None = None, uds: Path | None = None,
                        tls_in_entry: bool = True) -> dict:
    """Both plugins as `kind: external` + `grpc:` entries: `{target: localhost:PORT, tls}` or `{uds}`.

    tls_in_entry=False leaves `tls` out so the client reads PLUGINS_GRPC_CLIENT_MTLS_* instead.
    """
    plugins = []
    for name in cases.PLUGIN_NAMES:
        if uds is not None:
            grpc = {"uds": str(uds)}
        else:
            grpc = {"target": f"localhost:{port}"}
            if tls_in_entry:
                grpc["tls"] = {"certfile": str(certs.client_cert), "keyfile": str(certs.client_key),
                               "ca_bundle": str(certs.ca), "verify": True}
        plugins.append({"name": name, "kind": "external", "grpc": grpc})
    return {"plugins": plugins, "plugin_settings": {"plugin_timeout": 30, "fail_on_plugin_error": True}}


def grpc_client_tls_env(certs: CertSet) -> dict[str, str]:
    return {
        "PLUGINS_GRPC_CLIENT_MTLS_CERTFILE": str(certs.client_cert),
        "PLUGINS_GRPC_CLIENT_MTLS_KEYFILE": str(certs.client_key),
        "PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE": str(certs.ca),
        "PLUGINS_GRPC_CLIENT_MTLS_VERIFY": "true",
    }


def unix_gateway_config(path: Path) -> dict:
    """Both plugins as `kind: external` + `unix_socket: {path}` entries.

    The entries carry `hooks`, `mode` and `priority` themselves: upstream's raw-socket client fetches
    the remote config but never merges it, so without local hooks it would call nothing.
    """
    server = {p["name"]: p for p in cases.server_config()["plugins"]}
    plugins = [{"name": name, "kind": "external", "hooks": server[name]["hooks"], "mode": server[name]["mode"],
                "priority": server[name]["priority"], "unix_socket": {"path": str(path)}}
               for name in cases.PLUGIN_NAMES]
    return {"plugins": plugins, "plugin_settings": {"plugin_timeout": 30, "fail_on_plugin_error": True}}


def start_python_client(group: ProcGroup, **env: str) -> harness.PyClient:
    """The Python gateway driver with extra environment (e.g. PLUGINS_GRPC_CLIENT_MTLS_*)."""
    return harness.PyClient(group, group.workdir, harness.python_env(**env))
