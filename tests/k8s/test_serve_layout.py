"""`plugwire serve` started exactly as the example Deployment starts it (its args and env, with
the mount paths moved into a temp dir), its certificate Secret laid out as the kubelet mounts
one (`tls.crt -> ..data/tls.crt`, `..data -> ..<timestamp>`), the gateway's Secret and
PLUGINS_CLIENT_MTLS_* from the gateway patch; `plugwire call` runs continuously while the
`..data` symlink is swapped to a renewed certificate, as on a cert-manager renewal. Every call
must succeed, and new connections must get the renewed certificate."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import yaml
from check_metric_names import dashboard_exprs, known, metric_names, names_from_list, names_from_scrape, rule_exprs
from conftest import DEPLOY, OVERLAY, ROOT

PLUGIN = "ReplaceBadWordsPlugin"
DEPLOYMENT = "mcp-plugin-replacebadwordsplugin"
RULES = DEPLOY / "monitoring" / "prometheus-rules.yaml"
DASHBOARD = DEPLOY / "monitoring" / "grafana-dashboard.json"
NAMES = Path(__file__).resolve().parent / "metric-names.txt"


def free_port() -> int:
    # The health port (port + 1000) must be free too.
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 1000 > 65535:
            continue
        with socket.socket() as h:
            try:
                h.bind(("127.0.0.1", port + 1000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def mount_secret(mount: Path, stamp: str, cert: Path, key: Path, ca: Path) -> None:
    """Writes a new timestamped data dir and swaps `..data` to it atomically (rename), as the
    kubelet's atomic writer does; the old data dir is removed afterwards."""
    mount.mkdir(parents=True, exist_ok=True)
    data = mount / f"..{stamp}"
    data.mkdir()
    for src, name in ((cert, "tls.crt"), (key, "tls.key"), (ca, "ca.crt")):
        shutil.copyfile(src, data / name)
    old = os.readlink(mount / "..data") if (mount / "..data").is_symlink() else None
    tmp = mount / "..data_tmp"
    os.symlink(data.name, tmp)
    os.replace(tmp, mount / "..data")
    for name in ("tls.crt", "tls.key", "ca.crt"):
        if not (mount / name).is_symlink():
            os.symlink(f"..data/{name}", mount / name)
    if old:
        shutil.rmtree(mount / old)


def run(plugwire: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(plugwire), *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False)


def served_cert(port: int, gateway_mount: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(gateway_mount / "ca.crt"))
    ctx.load_cert_chain(str(gateway_mount / "tls.crt"), str(gateway_mount / "tls.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def pem_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_serve_with_the_deployment_env_and_a_secret_swap_loses_no_call(plugwire, rendered, tmp_path):
    dep = next(d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == DEPLOYMENT)
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    gateway = next(d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "mcpgateway")
    (gw_container,) = gateway["spec"]["template"]["spec"]["containers"]
    config_map = next(d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(
        "mcp-plugin-config-replacebadwordsplugin"))

    # Certificates: CA, gateway and this plugin (ECDSA for speed), as cert-manager would issue.
    certs = tmp_path / "certs"
    ext = tmp_path / "external.yaml"
    ext.write_text(f"plugins:\n  - name: {PLUGIN}\n    kind: external\n")
    done = run(plugwire, "certs", "all", "--config", str(ext), "--dir", str(certs), "--key-type", "ecdsa-p256")
    assert done.returncode == 0, done.stderr
    ca, plugin_dir, gw_dir = certs / "ca" / "ca.crt", certs / "plugins" / PLUGIN, certs / "gateway"

    # The pod's file system: every mountPath of the container moved under tmp_path/pod.
    root = tmp_path / "pod"
    mounts = {m["name"]: root / m["mountPath"].lstrip("/") for m in container["volumeMounts"]}
    mounts["config"].mkdir(parents=True)
    (mounts["config"] / "plugins.yaml").write_text(config_map["data"]["plugins.yaml"])
    mount_secret(mounts["tls"], "2026_01_01_00_00_00.1", plugin_dir / "server.crt", plugin_dir / "server.key", ca)
    gw_mounts = {m["name"]: root / m["mountPath"].lstrip("/") for m in gw_container["volumeMounts"]}
    mount_secret(gw_mounts["mcp-gateway-mtls"], "2026_01_01_00_00_00.1", gw_dir / "client.crt", gw_dir / "client.key", ca)

    def relocate(value: str) -> str:
        return str(root / value.lstrip("/")) if value.startswith("/etc/") else value

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGINS_")}
    env.update({e["name"]: relocate(e["value"]) for e in container["env"]})
    assert env["PLUGINS_SERVER_HOST"] == "0.0.0.0"
    env.update(PLUGINS_SERVER_HOST="127.0.0.1", PLUGINS_SERVER_PORT=str(port))
    health = port + next(p["containerPort"] for p in container["ports"] if p["name"] == "health") \
        - next(p["containerPort"] for p in container["ports"] if p["name"] == "https")
    server = subprocess.Popen([str(plugwire), *[relocate(a) for a in container["args"]]], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if run(plugwire, "health", f"http://127.0.0.1:{health}", "--timeout", "1").returncode == 0:
                break
            assert server.poll() is None, f"plugwire serve exited: {server.stderr.read()}"
            time.sleep(0.05)
        else:
            raise AssertionError("plugwire serve did not become healthy")
        first = served_cert(port, gw_mounts["mcp-gateway-mtls"])
        assert first == pem_der(plugin_dir / "server.crt")

        # Gateway side: the gateway's env (PLUGINS_CLIENT_MTLS_*) and a config without `tls`.
        gw_env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGINS_")}
        gw_env.update({e["name"]: relocate(e["value"]) for e in gw_container["env"] if e["name"].startswith("PLUGINS_CLIENT_MTLS_")})
        gw_config = tmp_path / "gateway.yaml"
        gw_config.write_text(yaml.safe_dump({"plugins": [{"name": PLUGIN, "kind": "external", "mcp": {
            "proto": "STREAMABLEHTTP", "url": f"https://localhost:{port}/mcp"}}]}))
        results: list[tuple[int, str, str]] = []
        stop = threading.Event()

        def caller() -> None:
            while not stop.is_set():
                done = run(plugwire, "call", "--config", str(gw_config), "--compact", "--hook", "tool_pre_invoke",
                           "--payload", '{"name":"search","args":{"q":"crap"}}', "--repeat", "4",
                           "--concurrency", "2", env=gw_env)
                results.append((done.returncode, done.stdout, done.stderr))

        thread = threading.Thread(target=caller)
        thread.start()
        try:
            while len(results) < 3:
                time.sleep(0.05)
            # Renewal: a new key and certificate from the same CA, then the ..data swap.
            done = run(plugwire, "certs", "plugin", PLUGIN, "--dir", str(certs), "--key-type", "ecdsa-p256", "--force")
            assert done.returncode == 0, done.stderr
            renewed = pem_der(plugin_dir / "server.crt")
            assert renewed != first
            mount_secret(mounts["tls"], "2026_02_01_00_00_00.2", plugin_dir / "server.crt", plugin_dir / "server.key", ca)
            swapped_at = len(results)
            deadline = time.monotonic() + 60
            while served_cert(port, gw_mounts["mcp-gateway-mtls"]) != renewed:
                assert time.monotonic() < deadline, "the renewed certificate was not picked up within 60 s"
                time.sleep(0.5)
            picked_up_at = len(results)
            while len(results) < picked_up_at + 3:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join()
        failed = [r for r in results if r[0] != 0 or '"q":"crud"' not in r[1]]
        assert not failed, f"{len(failed)} of {len(results)} call runs failed; first: {failed[0]}"
        assert swapped_at >= 3 and len(results) >= picked_up_at + 3

        # The alerts and the dashboard use only metric families that this very server (its health
        # port, as the PodMonitor scrapes it) and `plugwire call --metrics` really export.
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/metrics/prometheus", timeout=10) as response:
            server_scrape = response.read().decode()
        client = run(plugwire, "call", "--config", str(gw_config), "--compact", "--hook", "tool_pre_invoke",
                     "--payload", '{"name":"search","args":{"q":"crap"}}', "--metrics", env=gw_env)
        assert client.returncode == 0, client.stderr
        exported = names_from_scrape(server_scrape + "\n" + client.stderr)
        used = {n for _where, e in rule_exprs(RULES) + dashboard_exprs(DASHBOARD) for n in metric_names(e)}
        # A family shows in a scrape once it has a series; those whose event did not happen in this
        # run (a violation, a disabled plugin, a reconnect, a fail-open) must be on the exporter's
        # list, which crates/metrics/tests/exported_names.rs proves is exported after each event.
        not_seen = {n for n in used if not known(n, exported)}
        assert not_seen <= names_from_list(NAMES.read_text()), sorted(not_seen)
        for family in ("plugin_info", "plugwire_hook_calls_total", "plugwire_hook_duration_seconds",
                       "plugwire_tls_handshakes_total", "plugwire_open_connections",
                       "plugwire_certificate_expiry_seconds", "plugwire_client_calls_total",
                       "plugwire_client_connections_opened_total"):
            assert known(family, exported), f"{family} missing from a live scrape after calls"

        # plugwire certs check understands the mounted layout (both Secrets).
        check = run(plugwire, "certs", "check", "--k8s-dir", str(mounts["tls"]))
        assert check.returncode == 0, check.stdout + check.stderr
        both = tmp_path / "secrets"
        both.mkdir()
        os.symlink(mounts["tls"], both / "mcp-plugin-replacebadwordsplugin-tls")
        os.symlink(gw_mounts["mcp-gateway-mtls"], both / "mcp-gateway-client-tls")
        check = run(plugwire, "certs", "check", "--k8s-dir", str(both), "--json")
        assert check.returncode == 0, check.stdout + check.stderr
        roles = sorted(c["role"] for c in yaml.safe_load(check.stdout)["certificates"])
        assert roles == ["ca", "ca", "gateway", "plugin"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0, server.stderr.read()
