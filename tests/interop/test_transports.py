"""The era's Python gRPC and raw Unix-socket transports, Python to Python (the reference for plugwire's).

The era's gateway `PluginManager` with `grpc:` entries (`GrpcExternalPlugin`) against its gRPC
runtime over mTLS (settings from PLUGINS_GRPC_SERVER_* or from the YAML's `grpc_server_settings`;
client TLS from the entry's `grpc.tls` or PLUGINS_GRPC_CLIENT_MTLS_*) and over a Unix socket, and with
`unix_socket:` entries (`UnixSocketExternalPlugin`) against its raw-socket runtime. Each gives the
results the MCP transport gives (cases.EXPECTED), which is what test_grpc_unix.py will ask of plugwire.
Both eras: 1.0.0 needs the `grpc` extra (grpcio), which `make interop` installs.
"""

from __future__ import annotations

import pytest

import cases
import harness
import transports

pytestmark = pytest.mark.transport


def _server_yaml(workdir, **top_level):
    return cases.write_yaml(workdir / "server.yaml", {**cases.server_config(), **top_level})


def _run_chain(client, config):
    init = client.call(op="init", config=str(config))
    assert init["ok"], f"the Python gateway could not load the plugins: {init}"
    for case_id, hook, payload in cases.CHAIN_CASES:
        cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                         global_context=cases.GLOBAL_CONTEXT))
    return init


def _numbers_come_back_as_floats(client):
    """google.protobuf.Struct has only doubles: the integer 3 of the payload comes back as 3.0."""
    answer = client.call(op="invoke", hook="tool_pre_invoke", payload={"name": "search", "args": {"q": "crap", "n": 3}},
                         global_context=cases.GLOBAL_CONTEXT)
    n = answer["result"]["modified_payload"]["args"]["n"]
    assert n == 3 and isinstance(n, float), f"expected 3.0 from the Struct round trip, got {n!r}"


def test_python_grpc_mtls_settings_from_env(procs, certs, python_transports):
    """gRPC runtime with PLUGINS_GRPC_SERVER_* mTLS; `grpc: {target: localhost:PORT, tls}` entries: remote
    configs merged, the whole chain, the plugin's context state, Struct numbers as doubles."""
    port = harness.free_port()
    server_yaml = _server_yaml(procs.workdir)
    transports.start_python_grpc_server(procs, server_yaml, port=port, certs=certs)
    gateway_yaml = cases.write_yaml(procs.workdir / "gateway.yaml", transports.grpc_gateway_config(port=port, certs=certs))
    client = harness.start_python_client(procs)
    init = _run_chain(client, gateway_yaml)
    assert init["plugins"]["DenyListPlugin"]["hooks"] == ["prompt_pre_fetch", "tool_pre_invoke"], init
    assert init["plugins"]["ReplaceBadWordsPlugin"]["priority"] == 150, init
    single = client.call(op="plugin", name="DenyListPlugin", hook="tool_pre_invoke",
                         payload={"name": "search", "args": {"q": "fine"}})
    assert single["ok"] and single["context"]["state"] == {"deny_checked": True}, single
    _numbers_come_back_as_floats(client)
    client.close()


def test_python_grpc_mtls_settings_from_yaml_and_client_env(procs, certs, python_transports):
    """gRPC runtime with `grpc_server_settings` in its YAML; entries without `tls`, the client's mTLS from
    PLUGINS_GRPC_CLIENT_MTLS_*. Control: without those variables the client has no certificate and the
    runtime (client_auth: require) refuses it, so loading fails."""
    port = harness.free_port()
    server_yaml = _server_yaml(procs.workdir, grpc_server_settings=transports.grpc_server_settings_yaml(port, certs))
    transports.start_python_grpc_server(procs, server_yaml, tls_from="yaml")
    gateway_yaml = cases.write_yaml(procs.workdir / "gateway.yaml",
                                    transports.grpc_gateway_config(port=port, certs=certs, tls_in_entry=False))
    client = transports.start_python_client(procs, **transports.grpc_client_tls_env(certs))
    _run_chain(client, gateway_yaml)
    client.close()

    refused = transports.start_python_client(procs)
    init = refused.call(op="init", config=str(gateway_yaml), timeout=120)
    assert not init["ok"], f"the gRPC runtime accepted a client without certificate, or it was left out: {init}"
    refused.kill()


def test_python_grpc_over_unix_socket(procs, workdir, python_transports):
    """gRPC runtime on PLUGINS_GRPC_SERVER_UDS (no TLS, socket mode 0600); `grpc: {uds}` entries."""
    path = transports.socket_path(workdir, "grpc")
    server_yaml = _server_yaml(workdir)
    transports.start_python_grpc_server(procs, server_yaml, uds=path)
    assert path.is_socket() and (path.stat().st_mode & 0o777) == 0o600, oct(path.stat().st_mode)
    gateway_yaml = cases.write_yaml(workdir / "gateway.yaml", transports.grpc_gateway_config(uds=path))
    client = harness.start_python_client(procs)
    _run_chain(client, gateway_yaml)
    _numbers_come_back_as_floats(client)
    client.close()


def test_python_raw_unix_socket(procs, workdir, python_transports):
    """Raw-socket runtime on PLUGINS_UNIX_SOCKET_PATH (prints READY, socket 0600); `unix_socket: {path}`
    entries that carry their own hooks/mode/priority (upstream's raw client does not merge the remote
    config); the whole chain, and the server restarted under the same PluginManager (its client
    reconnects on EOF)."""
    path = transports.socket_path(workdir, "raw")
    server_yaml = _server_yaml(workdir)
    server = transports.start_python_unix_server(procs, server_yaml, path)
    assert path.is_socket() and (path.stat().st_mode & 0o777) == 0o600, oct(path.stat().st_mode)
    gateway_yaml = cases.write_yaml(workdir / "gateway.yaml", transports.unix_gateway_config(path))
    client = harness.start_python_client(procs)
    _run_chain(client, gateway_yaml)
    _numbers_come_back_as_floats(client)

    server.stop()
    transports.start_python_unix_server(procs, server_yaml, path, name="python-unix-server-restarted")
    for case_id, hook, payload in cases.CHAIN_CASES:
        cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                         global_context=cases.GLOBAL_CONTEXT))
    client.close()
