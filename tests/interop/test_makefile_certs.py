"""Certificates made the Python Makefile's way (openssl commands, docs/decisions.md #26): v1 gateway certificate.

The Python world accepts that v1 client certificate (OpenSSL does); plugwire serve refuses it, as
docs/decisions.md #2 says, and its log says why, so an operator who reuses old `make certs-mcp-all` output knows
to re-issue the gateway certificate (`plugwire certs gateway --force`).
"""

import re

import cases
import harness


def _makefile_certs(workdir):
    certs = harness.makefile_way_certs(workdir / "certs-makefile", cases.PLUGIN_NAMES)
    assert harness.cert_version(certs.client_cert) == 1, "the Makefile's gateway certificate should be X.509 v1"
    assert harness.cert_version(certs.server_cert) == 3
    return certs


def test_python_pair_accepts_makefile_certs(procs, workdir):
    """Control: the same files work between the Python client and the Python runtime."""
    certs = _makefile_certs(workdir)
    port = harness.free_port()
    server_yaml = cases.write_yaml(workdir / "server.yaml", cases.server_config())
    harness.start_python_runtime(procs, port, certs, server_yaml)
    gateway_yaml = cases.write_yaml(workdir / "gateway.yaml", cases.gateway_config(port, certs))
    client = harness.start_python_client(procs)
    assert client.call(op="init", config=str(gateway_yaml))["ok"]
    case_id, hook, payload = cases.CHAIN_CASES[2]
    cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                     global_context=cases.GLOBAL_CONTEXT))
    client.close()


def test_plugwire_serve_refuses_v1_gateway_cert_with_clear_log(procs, workdir, plugwire_bin):
    certs = _makefile_certs(workdir)
    port = harness.free_port()
    server_yaml = cases.write_yaml(workdir / "server.yaml", cases.server_config())
    # default log level: an operator sees the refusal without turning on DEBUG
    serve = harness.start_plugwire_serve(procs, port, certs, server_yaml, wait=False, LOG_LEVEL="INFO")
    # ready = the plain-HTTP health port (port+1000) answers; the TLS port refuses our v1 client cert
    health = harness.wait_http_health(serve, f"http://127.0.0.1:{port + 1000}/health")
    # Python's key and value, plus plugwire's report on the TLS port's certificate
    assert health["status"] == "healthy" and health["certificate"]["state"] == "valid", health

    gateway_yaml = cases.write_yaml(workdir / "gateway.yaml", cases.gateway_config(port, certs))
    client = harness.start_python_client(procs)
    init = client.call(op="init", config=str(gateway_yaml))
    assert not init["ok"], f"plugwire serve accepted the Makefile's X.509 v1 gateway certificate: {init}"
    client.kill()

    def refused_v1(text):
        return any(re.search(r"(?i)X\.509 v1\b|\bv1\b|version 1\b", line) and "cert" in line.lower()
                   and "refused" in line.lower() for line in text.splitlines())

    log = harness.wait_log(serve, refused_v1)
    assert refused_v1(log), f"plugwire serve's log does not say the client certificate was refused for being X.509 v1:\n{log}"
    assert serve.alive(), "plugwire serve died after refusing a handshake"
