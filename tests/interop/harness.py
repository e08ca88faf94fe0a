"""Helpers for the interop suite: ports, child processes, certificates, configs, the Python client.

Every process is started in its own session (so a stop reaches its children), logs to a file in the
test's temp directory, and is always killed by the `procs` fixture. Nothing listens on anything but
127.0.0.1, and every port comes from binding port 0.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from era import CURRENT as ERA

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYPLUGINS = HERE / "pyplugins"


def _plugwire_path() -> Path:
    """PLUGWIRE_BIN (the Makefile passes it), else $CARGO_TARGET_DIR/debug/plugwire, else target/debug."""
    if os.environ.get("PLUGWIRE_BIN"):
        return Path(os.environ["PLUGWIRE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    return target / "debug" / "plugwire"


PLUGWIRE = _plugwire_path()

# How long a server may take to come up (the Python runtime needs ~2 s; debug builds are slower).
START_TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------ ports
def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free loopback port P (from binding port 0) whose health port P+1000 is free too."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 1000 <= 65535 and _bindable(port + 1000):
            return port
    raise RuntimeError("no free loopback port pair (P, P+1000) found")


# -------------------------------------------------------------------------------------- processes
def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: no PLUGINS_* / proxy settings leak in from the caller."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(extra)
    return env


def python_env(**extra: str) -> dict[str, str]:
    """Environment for the Python peer: our stand-in plugins and `era` on PYTHONPATH, the era fixed.

    PLUGINS_FAIL_ON_PLUGIN_ERROR=true: a plugin that cannot load fails the manager instead of being
    left out. 1.0.0 also reads it from the YAML's `plugin_settings` (which the test configs set);
    cpex ignores `plugin_settings` and reads only the variable.
    """
    env = {"PLUGINS_FAIL_ON_PLUGIN_ERROR": "true", **extra}
    return base_env(PYTHONPATH=f"{PYPLUGINS}{os.pathsep}{HERE}", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
                    INTEROP_ERA=ERA.name, **env)


class Proc:
    """One child process with its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self._log_file = open(log, "ab")
        self._log_file.write(f"$ {' '.join(map(str, argv))}\n".encode())
        self._log_file.flush()
        self.popen = subprocess.Popen(
            [str(a) for a in argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (the process group), wait, then SIGKILL. Returns the exit code."""
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(5)
        self._log_file.close()
        return self.popen.returncode

    def kill(self) -> None:
        if self.alive():
            self._signal(signal.SIGKILL)
            self.popen.wait(5)
        self._log_file.close()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)  # our own session: the child and its children only
        except ProcessLookupError:
            pass


class ProcGroup:
    """All processes of one test; the fixture kills every one of them at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Proc] = []
        self.logs: list[tuple[str, Path]] = []
        self._count = 0

    def start(self, name: str, argv: list, env: dict[str, str], cwd: Path | None = None) -> Proc:
        self._count += 1
        log = self.workdir / f"{self._count:02d}-{name}.log"
        proc = Proc(name, argv, env, cwd or self.workdir, log)
        self.procs.append(proc)
        self.logs.append((f"{name} (pid {proc.pid})", log))
        return proc

    def add_log(self, title: str, log: Path) -> None:
        self.logs.append((title, log))

    def kill_all(self) -> None:
        for proc in self.procs:
            try:
                proc.kill()
            except Exception:  # keep killing the others
                pass


# ------------------------------------------------------------------------------------ readiness
def wait_tls_ready(proc: Proc, port: int, certs: "CertSet", timeout: float = START_TIMEOUT) -> None:
    """Wait until an mTLS handshake (gateway cert, CA, hostname localhost) succeeds on the port."""
    ctx = certs.client_context()
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before listening:\n{proc.log_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost"):
                    return
        except OSError as exc:  # refused while starting, or a handshake failure
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} not ready on port {port} after {timeout}s ({last!r}):\n{proc.log_text()}")


def wait_http_health(proc: Proc, url: str, timeout: float = START_TIMEOUT) -> dict:
    """Wait until a plain-HTTP GET of `url` answers 200 and return its JSON."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before answering:\n{proc.log_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{proc.name}: {url} not healthy after {timeout}s ({last!r}):\n{proc.log_text()}")


def wait_log(proc: Proc, needle_fn, timeout: float = 10.0) -> str:
    """Wait until `needle_fn(log_text)` is true; returns the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proc.log_text()
        if needle_fn(text):
            return text
        time.sleep(0.1)
    return proc.log_text()


# ---------------------------------------------------------------------------------- certificates
@dataclass
class CertSet:
    """One certificate tree in the ContextForge layout (ca/, gateway/, plugins/<name>/)."""

    root: Path
    server_plugin: str

    @property
    def ca(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def client_cert(self) -> Path:
        return self.root / "gateway" / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.root / "gateway" / "client.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "plugins" / self.server_plugin / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "plugins" / self.server_plugin / "server.key"

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def client_tls_yaml(self) -> dict:
        """The gateway entry's `mcp.tls` block."""
        return {
            "certfile": str(self.client_cert),
            "keyfile": str(self.client_key),
            "ca_bundle": str(self.ca),
            "verify": True,
            "check_hostname": True,
        }

    def server_env(self, cert_reqs: int = 2) -> dict[str, str]:
        """PLUGINS_SERVER_SSL_* for mTLS with this tree (both servers read the same names)."""
        return {
            "PLUGINS_SERVER_SSL_ENABLED": "true",
            "PLUGINS_SERVER_SSL_CERTFILE": str(self.server_cert),
            "PLUGINS_SERVER_SSL_KEYFILE": str(self.server_key),
            "PLUGINS_SERVER_SSL_CA_CERTS": str(self.ca),
            "PLUGINS_SERVER_SSL_CERT_REQS": str(cert_reqs),
        }


def plugwire_certs(root: Path, gateway_config: Path, server_plugin: str) -> CertSet:
    """`plugwire certs all --dir ROOT --key-type ecdsa-p256 --config CFG`."""
    argv = [str(PLUGWIRE), "certs", "all", "--dir", str(root), "--key-type", "ecdsa-p256", "--config", str(gateway_config)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{' '.join(argv)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    certs = CertSet(root, server_plugin)
    for path in (certs.ca, certs.client_cert, certs.client_key, certs.server_cert, certs.server_key):
        assert path.is_file(), f"plugwire certs all did not create {path}:\n{run.stdout}\n{run.stderr}"
    return certs


def makefile_way_certs(root: Path, plugin_names: list[str], key_type: str = "ec") -> CertSet:
    """Certificates made with the openssl commands of ContextForge's Makefile (docs/decisions.md #26).

    CA: `req -new -x509`; gateway: `x509 -req` WITHOUT `-extfile`, i.e. an X.509 v1 certificate with
    no extensions; plugins: `x509 -req -extfile` with only the SAN line. The only change is the key
    algorithm: P-256 keys via `genpkey` (PKCS#8 like `genrsa` under OpenSSL 3) instead of RSA-4096,
    which takes seconds per key (key_type="rsa" restores the Makefile's `genrsa 4096`).
    """
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make certificates the Python Makefile's way"

    def run(*args: str) -> None:
        done = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"openssl {' '.join(args)} failed:\n{done.stderr}"

    def genkey(path: Path) -> None:
        if key_type == "rsa":
            run("genrsa", "-out", str(path), "4096")
        else:
            run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
        path.chmod(0o600)

    ca_dir, gw_dir = root / "ca", root / "gateway"
    ca_dir.mkdir(parents=True)
    gw_dir.mkdir()
    genkey(ca_dir / "ca.key")
    run("req", "-new", "-x509", "-key", str(ca_dir / "ca.key"), "-out", str(ca_dir / "ca.crt"), "-days", "825",
        "-subj", "/CN=ContextForge-CA/O=ContextForge/OU=Plugins")
    # certs-mcp-gateway: no -extfile -> X.509 v1
    genkey(gw_dir / "client.key")
    run("req", "-new", "-key", str(gw_dir / "client.key"), "-out", str(gw_dir / "client.csr"),
        "-subj", "/CN=mcp-gateway-client/O=MCPGateway/OU=Gateway")
    run("x509", "-req", "-in", str(gw_dir / "client.csr"), "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
        "-CAcreateserial", "-out", str(gw_dir / "client.crt"), "-days", "825", "-sha256")
    (gw_dir / "client.csr").unlink()
    shutil.copy(ca_dir / "ca.crt", gw_dir / "ca.crt")
    for name in plugin_names:
        pdir = root / "plugins" / name
        pdir.mkdir(parents=True)
        genkey(pdir / "server.key")
        run("req", "-new", "-key", str(pdir / "server.key"), "-out", str(pdir / "server.csr"),
            "-subj", f"/CN=mcp-plugin-{name}/O=MCPGateway/OU=Plugins")
        ext = pdir / "san.ext"
        ext.write_text(f"subjectAltName=DNS:{name},DNS:mcp-plugin-{name},DNS:localhost\n")
        run("x509", "-req", "-in", str(pdir / "server.csr"), "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
            "-CAcreateserial", "-out", str(pdir / "server.crt"), "-days", "825", "-sha256", "-extfile", str(ext))
        (pdir / "server.csr").unlink()
        ext.unlink()
        shutil.copy(ca_dir / "ca.crt", pdir / "ca.crt")
    return CertSet(root, plugin_names[0])


def cert_version(path: Path) -> int:
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-text"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Version:"):
            return int(line.split()[1])
    raise AssertionError(f"no Version line in {path}")


# -------------------------------------------------------------------------------- Python client
class PyClient:
    """pyclient.py in a child process: the Python gateway's PluginManager, one command at a time."""

    def __init__(self, group: ProcGroup, cwd: Path, env: dict[str, str]) -> None:
        self._count = len(group.logs) + 1
        self.log = group.workdir / f"{self._count:02d}-python-gateway-client.log"
        self._log_file = open(self.log, "ab")
        self.popen = subprocess.Popen(
            [sys.executable, str(HERE / "pyclient.py")],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            start_new_session=True,
            text=True,
        )
        group.add_log(f"python gateway client (pid {self.popen.pid})", self.log)
        group.procs.append(self)  # killed with the others
        self.name = "python gateway client"
        self._answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def call(self, timeout: float = 60.0, **cmd) -> dict:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps(cmd) + "\n")
        self.popen.stdin.flush()
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"python client: no answer to {cmd['op']} within {timeout}s:\n{self.log_text()}")
        if line is None:
            raise AssertionError(f"python client exited ({self.popen.poll()}) during {cmd['op']}:\n{self.log_text()}")
        return json.loads(line)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(5)
        self._log_file.close()

    def close(self) -> None:
        """Graceful shutdown (closes the manager), then make sure it is gone."""
        if self.alive():
            try:
                self.call(op="shutdown", timeout=20)
            except AssertionError:
                pass
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# ----------------------------------------------------------------------------------- /proc/net/tcp
# Sockets of connections that were established: ESTABLISHED, FIN_WAIT1/2, TIME_WAIT, CLOSE_WAIT,
# LAST_ACK, CLOSING. Not SYN_SENT/SYN_RECV (a refused attempt, e.g. to ::1, is no connection), not LISTEN.
_ESTABLISHED_STATES = {"01", "04", "05", "06", "08", "09", "0B"}


def tcp_peer_ports(server_port: int) -> set[int]:
    """Client-side ports of every established TCP connection to `server_port` on this host.

    A connection shows up as the server's socket (local port = server_port) and/or the client's socket
    (remote port = server_port), and after close as one TIME_WAIT entry (kept ~60 s), so the set of
    client ports counts the connections opened recently, closed or not.
    """
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state not in _ESTABLISHED_STATES:
                continue
            lport = int(local.rsplit(":", 1)[1], 16)
            rport = int(remote.rsplit(":", 1)[1], 16)
            if lport == server_port:
                ports.add(rport)
            elif rport == server_port:
                ports.add(lport)
    return ports


class ConnectionSampler:
    """Samples tcp_peer_ports in a thread, so connections are counted even if they vanish quickly."""

    def __init__(self, server_port: int, interval: float = 0.02) -> None:
        self.server_port = server_port
        self.interval = interval
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen |= tcp_peer_ports(self.server_port)
            self._stop.wait(self.interval)

    def __enter__(self) -> "ConnectionSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seen |= tcp_peer_ports(self.server_port)


# ------------------------------------------------------------------------------------- servers
def start_plugwire_serve(group: ProcGroup, port: int, certs: CertSet, config: Path, name: str = "plugwire-serve",
                         wait: bool = True, **env: str) -> Proc:
    """`plugwire serve --config CONFIG` with mTLS (ssl_cert_reqs=2) from PLUGINS_SERVER_* on 127.0.0.1:PORT."""
    environment = base_env(PLUGINS_SERVER_HOST="127.0.0.1", PLUGINS_SERVER_PORT=str(port), LOG_LEVEL="DEBUG",
                           **certs.server_env(2))
    environment.update(env)
    proc = group.start(name, [PLUGWIRE, "serve", "--config", config], environment)
    if wait:
        wait_tls_ready(proc, port, certs)
    return proc


def start_python_runtime(group: ProcGroup, port: int, certs: CertSet, config: Path, name: str = "python-runtime",
                         wait: bool = True) -> Proc:
    """ContextForge 1.0.0's plugin runtime over HTTP with mTLS, through the ssl_cert_reqs wrapper."""
    environment = python_env(
        PLUGINS_TRANSPORT="http",
        PLUGINS_CONFIG_PATH=str(config),
        PLUGINS_SERVER_HOST="127.0.0.1",
        PLUGINS_SERVER_PORT=str(port),
        **certs.server_env(2),
    )
    proc = group.start(name, [sys.executable, HERE / "pyruntime.py"], environment)
    if wait:
        wait_tls_ready(proc, port, certs)
    return proc


def start_python_client(group: ProcGroup) -> PyClient:
    return PyClient(group, group.workdir, python_env())
