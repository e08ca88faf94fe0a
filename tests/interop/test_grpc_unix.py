"""plugwire's gRPC and raw Unix-socket transports against the era's Python clients and servers.

These run in both eras: the 1.0.0 client and server use the `mcpgateway.plugins` gRPC package, the
1.1.0 ones `cpex`, so plugwire has to answer both (its client falls back to the old package when a
server answers UNIMPLEMENTED).

What they ask, with the Python-to-Python runs of test_transports.py as the reference:
- the era's `GrpcExternalPlugin` → `plugwire serve --transport grpc` (PLUGINS_GRPC_SERVER_{HOST,PORT,
  SSL_*} mTLS, or PLUGINS_GRPC_SERVER_UDS) and `UnixSocketExternalPlugin` → `plugwire serve
  --transport unix` (PLUGINS_UNIX_SOCKET_PATH): the same hook results as over MCP from plugwire serve,
  and a plugwire restart survived by the same PluginManager;
- `plugwire call` with `grpc:` / `unix_socket:` entries → the era's gRPC runtime (mTLS) and raw-socket
  runtime: the same results as the Python client gets from them.
"""

from __future__ import annotations

import json
import subprocess

import pytest

import cases
import era
import harness
import transports

pytestmark = [pytest.mark.transport]


def _server_yaml(workdir):
    return cases.write_yaml(workdir / "server.yaml", cases.server_config())


def _chain_answers(client, config) -> list[dict]:
    """Load `config` in the Python gateway and run every CHAIN_CASES call; checked against EXPECTED."""
    init = client.call(op="init", config=str(config))
    assert init["ok"], f"the Python gateway could not load the plugins: {init}"
    answers = []
    for case_id, hook, payload in cases.CHAIN_CASES:
        answer = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        cases.assert_chain_result(case_id, answer)
        answers.append(cases.comparable(answer))
    return answers


def _mcp_reference(procs, certs, server_yaml) -> list[dict]:
    """What the same Python client gets from `plugwire serve` over MCP (mTLS)."""
    port = harness.free_port()
    harness.start_plugwire_serve(procs, port, certs, server_yaml, name="plugwire-serve-mcp")
    gateway_yaml = cases.write_yaml(procs.workdir / "gateway-mcp.yaml", cases.gateway_config(port, certs))
    client = harness.start_python_client(procs)
    answers = _chain_answers(client, gateway_yaml)
    client.close()
    return answers


def _plugwire_transport(kind, procs, certs, server_yaml, name="plugwire-serve"):
    """Start plugwire serve over `kind` ("grpc-tls", "grpc-uds", "unix"); returns (proc, gateway config, restart)."""
    if kind == "grpc-tls":
        port = harness.free_port()
        start = lambda n: transports.start_plugwire_serve_grpc(procs, server_yaml, port=port, certs=certs, name=n)  # noqa: E731
        gateway = transports.grpc_gateway_config(port=port, certs=certs)
    elif kind == "grpc-uds":
        path = transports.socket_path(procs.workdir, "pwg")
        start = lambda n: transports.start_plugwire_serve_grpc(procs, server_yaml, uds=path, name=n)  # noqa: E731
        gateway = transports.grpc_gateway_config(uds=path)
    else:
        path = transports.socket_path(procs.workdir, "pwu")
        start = lambda n: transports.start_plugwire_serve_unix(procs, server_yaml, path, name=n)  # noqa: E731
        gateway = transports.unix_gateway_config(path)
    return start(f"{name}-{kind}"), gateway, start


def _without_config_keys(answers: list[dict]) -> list[dict]:
    out = json.loads(json.dumps(answers))
    for answer in out:
        for record in (answer.get("result") or {}).get("executions") or []:
            record.pop("config_keys", None)
    return out


@pytest.mark.parametrize("kind", ["grpc-tls", "grpc-uds", "unix"])
def test_python_gateway_to_plugwire_serve(kind, procs, certs, python_transports):
    """The era's Python client over gRPC (mTLS, UDS) or the raw socket → plugwire serve: the same chain
    results as over MCP, and a plugwire restart survived by the same PluginManager.

    Over a Unix socket grpcio sends the percent-encoded socket path as `:authority`, which the HTTP/2
    server under tonic resets; plugwire repairs it before the server sees it (docs/transports.md)."""
    server_yaml = _server_yaml(procs.workdir)
    reference = _mcp_reference(procs, certs, server_yaml)
    serve, gateway, start = _plugwire_transport(kind, procs, certs, server_yaml)
    gateway_yaml = cases.write_yaml(procs.workdir / f"gateway-{kind}.yaml", gateway)
    client = harness.start_python_client(procs)
    answers = _chain_answers(client, gateway_yaml)
    if kind == "unix":
        # Upstream's raw-socket client never merges the remote config (it keeps the local entry), so
        # its execution records list no config keys; everything else must be what MCP gives.
        answers, reference = _without_config_keys(answers), _without_config_keys(reference)
    assert answers == reference, f"{kind}: {answers}\n!= over MCP: {reference}"

    assert serve.stop() == 0, f"plugwire serve ({kind}) did not exit 0 on SIGTERM"
    start(f"plugwire-serve-{kind}-restarted")
    for case_id, hook, payload in cases.CHAIN_CASES:
        cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                         global_context=cases.GLOBAL_CONTEXT))
    client.close()


def _plugwire_call(procs, config, hook, payload, env=None):
    argv = [str(harness.PLUGWIRE), "call", "--config", str(config), "--hook", hook, "--payload", json.dumps(payload),
            "--context", json.dumps(cases.GLOBAL_CONTEXT), "--compact"]
    done = subprocess.run(argv, cwd=procs.workdir, env=harness.base_env(LOG_LEVEL="INFO", **(env or {})),
                          capture_output=True, text=True, timeout=120)
    log = procs.workdir / f"plugwire-call-{len(procs.logs) + 1:02d}.log"
    log.write_text(f"$ {' '.join(argv)}\nexit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    procs.add_log("plugwire call", log)
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"plugwire call printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.mark.parametrize("kind", ["grpc-tls", "grpc-tls-env", "grpc-uds", "unix"])
def test_plugwire_call_to_python_servers(kind, procs, certs, python_transports):
    """`plugwire call` with `grpc:` (entry TLS, PLUGINS_GRPC_CLIENT_MTLS_*, UDS) or `unix_socket:` entries →
    the era's Python gRPC / raw-socket runtime: the result the Python client gets, exit 3 on a block."""
    server_yaml = _server_yaml(procs.workdir)
    env = {}
    if kind.startswith("grpc-tls"):
        port = harness.free_port()
        transports.start_python_grpc_server(procs, server_yaml, port=port, certs=certs)
        gateway = transports.grpc_gateway_config(port=port, certs=certs, tls_in_entry=(kind == "grpc-tls"))
        if kind == "grpc-tls-env":
            env = transports.grpc_client_tls_env(certs)
    elif kind == "grpc-uds":
        path = transports.socket_path(procs.workdir, "pyg")
        transports.start_python_grpc_server(procs, server_yaml, uds=path)
        gateway = transports.grpc_gateway_config(uds=path)
    else:
        path = transports.socket_path(procs.workdir, "pyu")
        transports.start_python_unix_server(procs, server_yaml, path)
        gateway = transports.unix_gateway_config(path)
    gateway_yaml = cases.write_yaml(procs.workdir / f"gateway-{kind}.yaml", gateway)
    client = transports.start_python_client(procs, **env)
    assert client.call(op="init", config=str(gateway_yaml))["ok"]
    for case_id, hook, payload in cases.CHAIN_CASES:
        theirs = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        cases.assert_chain_result(case_id, theirs)
        # Against a 1.0.0 gateway, plugwire runs with its 1.0.x switch (1.0.0's chain semantics).
        compat = {"PLUGINS_COMPAT": "1.0"} if harness.ERA.name == era.ERA_1_0 else {}
        code, ours = _plugwire_call(procs, gateway_yaml, hook, payload, env={**env, **compat})
        blocked = not theirs["result"]["continue_processing"]
        assert code == (3 if blocked else 0), f"{kind} {case_id}: exit {code}: {ours}"
        for key in ("continue_processing", "violation", "modified_payload"):
            assert ours["result"][key] == theirs["result"][key], (
                f"{kind} {case_id}: {key}: plugwire call {ours['result'][key]!r} != Python client {theirs['result'][key]!r}")
        assert ours.get("violation_plugin") == theirs["violation_plugin"], f"{kind} {case_id}: {ours}"
    client.close()
