"""`plugwire call` (the plugwire gateway-side client) against the era's Python MCP plugin runtime, over mTLS.

The Python runtime (1.0.0's, or cpex's under 1.1.0) serves the SearchReplace + DenyList config (our
stand-in modules at the upstream kind paths) with PLUGINS_SERVER_* mTLS through the ssl_cert_reqs
wrapper; `plugwire call --config` reads a gateway-side YAML with `kind: external` + `mcp.tls` (or no
`tls`, and PLUGINS_CLIENT_MTLS_* in the environment) at https://localhost:PORT/mcp.

Under 1.1.0 these fail until plugwire's client accepts cpex's mode names: a cpex server reports
`mode: sequential` even for a YAML that says `enforce`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime

import cases
import era
import harness
import transports


def _runtime(procs, certs):
    port = harness.free_port()
    server_yaml = cases.write_yaml(procs.workdir / "server.yaml", cases.server_config())
    runtime = harness.start_python_runtime(procs, port, certs, server_yaml)
    return port, server_yaml, runtime


def _gateway_yaml(workdir, port, certs, names=None, file_name="gateway.yaml"):
    config = cases.gateway_config(port, certs)
    if names is not None:
        config["plugins"] = [p for p in config["plugins"] if p["name"] in names]
    return cases.write_yaml(workdir / file_name, config)


def plugwire_call(procs, config, hook, payload, *extra, context=None, timeout=120, env=None):
    """Run `plugwire call` to completion; returns (exit code, parsed stdout JSON, stderr)."""
    argv = [str(harness.PLUGWIRE), "call", "--config", str(config), "--hook", hook,
            "--payload", json.dumps(payload), "--compact", *extra]
    if context is not None:
        argv += ["--context", json.dumps(context)]
    done = subprocess.run(argv, cwd=procs.workdir, env=harness.base_env(LOG_LEVEL="INFO", **(env or {})),
                          capture_output=True, text=True, timeout=timeout)
    log = procs.workdir / f"plugwire-call-{len(procs.logs) + 1:02d}.log"
    log.write_text(f"$ {' '.join(argv)}\nexit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    procs.add_log("plugwire call", log)
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"plugwire call printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, output, done.stderr


def test_plugwire_call_matches_python_client(procs, certs, current_era):
    """Every chain call gives plugwire call the same result JSON the Python gateway client gets (key for key,
    explicit nulls included; under 1.1.0 the 1.0.0 keys and any new key plugwire prints), the same violating
    plugin, and the exit code for a block (3)."""
    port, _server_yaml, _runtime_proc = _runtime(procs, certs)
    gateway_yaml = _gateway_yaml(procs.workdir, port, certs)
    client = harness.start_python_client(procs)
    assert client.call(op="init", config=str(gateway_yaml))["ok"]
    for case_id, hook, payload in cases.CHAIN_CASES:
        theirs = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        cases.assert_chain_result(case_id, theirs)  # the reference itself is right
        # Against a 1.0.0 gateway, plugwire runs with its 1.0.x switch (1.0.0's chain: no execution records).
        compat = {"PLUGINS_COMPAT": "1.0"} if current_era.name == era.ERA_1_0 else None
        code, ours, stderr = plugwire_call(procs, gateway_yaml, hook, payload, context=cases.GLOBAL_CONTEXT, env=compat)
        blocked = not theirs["result"]["continue_processing"]
        assert code == (3 if blocked else 0), f"{case_id}: exit {code}\n{stderr}"
        assert "result" in ours, f"{case_id}: plugwire call failed: {ours}\n{stderr}"
        if current_era.name == era.ERA_1_0:
            assert ours["result"] == theirs["result"], (
                f"{case_id}: plugwire call {ours['result']} != Python client {theirs['result']}")
        else:
            # cpex's chain result adds modified_extensions, denial_metadata and executions (records with a
            # per-process plugin id and measured durations, which a plugwire gateway need not emit): the
            # six 1.0.0 keys must be equal, and a new key plugwire prints must equal the Python client's.
            for key in cases.RESULT_KEYS_1_0:
                assert ours["result"][key] == theirs["result"][key], (
                    f"{case_id}: {key}: plugwire call {ours['result'][key]!r} != Python client {theirs['result'][key]!r}")
            for key in ("modified_extensions", "denial_metadata"):
                if key in ours["result"]:
                    assert ours["result"][key] == theirs["result"][key], f"{case_id}: {key}: {ours['result']}"
        assert ours.get("violation_plugin") == theirs["violation_plugin"], f"{case_id}: {ours}"
    client.close()


def test_plugwire_call_keeps_connections_to_python_runtime(procs, certs):
    """N calls at concurrency C open at most C TCP connections, although the runtime answers in SSE."""
    port, _server_yaml, _runtime_proc = _runtime(procs, certs)
    gateway_yaml = _gateway_yaml(procs.workdir, port, certs, names=["ReplaceBadWordsPlugin"])
    _case, hook, payload = cases.CHAIN_CASES[2]

    # Control (proves the counter can see more than C connections): the Python client reads the runtime's
    # SSE answer only up to the result event and then closes the response, so many of its calls open a
    # new connection (docs/decisions.md #9; 1.1.0: one per call; 1.0.0: a connection survives only when the end
    # of the stream had already arrived, which depends on timing: from 2 to 10 per 10 calls were seen). So the
    # control calls until it has counted more than 4, up to 200 calls; a counter that cannot see them fails it.
    python_yaml = _gateway_yaml(procs.workdir, port, certs, names=["ReplaceBadWordsPlugin"], file_name="gw-py.yaml")
    client = harness.start_python_client(procs)
    assert client.call(op="init", config=str(python_yaml))["ok"]
    before = harness.tcp_peer_ports(port)
    python_calls = 0
    with harness.ConnectionSampler(port) as sampler:
        while python_calls < 200 and len(sampler.seen - before) <= 4:
            assert client.call(op="plugin", name="ReplaceBadWordsPlugin", hook=hook, payload=payload)["ok"]
            python_calls += 1
    python_connections = len(sampler.seen - before)
    assert python_connections > 4, f"{python_calls} Python client calls, only {python_connections} connections counted"
    client.close()

    for repeat, concurrency in ((60, 1), (120, 4)):
        before = harness.tcp_peer_ports(port)
        with harness.ConnectionSampler(port) as sampler:
            code, out, stderr = plugwire_call(procs, gateway_yaml, hook, payload,
                                              "--repeat", str(repeat), "--concurrency", str(concurrency))
        assert code == 0 and out.get("failures") == 0, f"exit {code}: {out}\n{stderr}"
        assert out["result"]["modified_payload"]["args"] == {"q": "yikes", "n": 3}, out
        stats = out["stats"]
        assert stats["calls"] == repeat
        assert 1 <= stats["connections_opened"] <= concurrency, f"client-side count: {stats}"
        opened = sampler.seen - before
        assert 1 <= len(opened) <= concurrency, (
            f"{repeat} calls at concurrency {concurrency} opened {len(opened)} TCP connections "
            f"(client ports {sorted(opened)}); the client reported {stats}")


def test_plugwire_call_recovers_when_python_runtime_restarts(procs, certs):
    """The runtime is restarted during a stream of calls; the client's calls after the restart succeed.

    The stream must outlive the restart: its length is calibrated from short runs, and the test
    fails (rather than passes vacuously) if the stream ended before the runtime was back.
    """
    port, server_yaml, runtime = _runtime(procs, certs)
    gateway_yaml = _gateway_yaml(procs.workdir, port, certs, names=["ReplaceBadWordsPlugin"])
    _case, hook, payload = cases.CHAIN_CASES[2]

    durations = []
    for n in (1, 201):  # the difference cancels process start-up and initialization
        started = time.monotonic()
        code, out, stderr = plugwire_call(procs, gateway_yaml, hook, payload, "--repeat", str(n))
        assert code == 0, f"calibration run failed: {out}\n{stderr}"
        durations.append(time.monotonic() - started)
    per_call = max(durations[1] - durations[0], 0.01) / 200
    repeat = max(500, min(50000, int(10.0 / per_call)))  # ~10 s of calls

    argv = [harness.PLUGWIRE, "call", "--config", gateway_yaml, "--hook", hook, "--payload", json.dumps(payload),
            "--compact", "--repeat", str(repeat), "--timeout", "5"]
    stream = procs.start("plugwire-call-stream", argv, harness.base_env(LOG_LEVEL="INFO"))
    time.sleep(1.0)
    assert stream.alive(), f"the call stream ended before the restart:\n{stream.log_text()}"
    runtime.stop()
    restarted = harness.start_python_runtime(procs, port, certs, server_yaml, name="python-runtime-restarted")
    back_at = time.time()  # an mTLS handshake with the restarted runtime has just succeeded
    assert stream.alive(), (f"the stream of {repeat} calls ended before the runtime was back; "
                            f"cannot check recovery:\n{stream.log_text()}")
    stream.popen.wait(120)
    text = stream.log_text()
    last_line = [line for line in text.splitlines() if line.startswith("{")][-1]
    out = json.loads(last_line)
    assert "result" in out, f"the last call of the stream failed: {out}"
    assert out["result"]["modified_payload"]["args"] == {"q": "yikes", "n": 3}, out
    served_after = restarted.log_text().count("interop-plugin-call ReplaceBadWordsPlugin tool_pre_invoke")
    assert served_after >= 1, "no call reached the restarted runtime"
    failures = [(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp(), int(i))
                for ts, i in re.findall(r"^(\S+Z)\s+ERROR call (\d+) failed", text, re.MULTILINE)]
    failed = sorted(i for _, i in failures)
    assert len(failed) == out.get("failures", 0), f"failures {out.get('failures')} vs logged {failed}"
    # Only calls made while the runtime was down may fail: a failure is logged right after a connect or
    # re-initialize attempt that failed, so none may be logged once the restarted runtime answered
    # (1 s of slack for the attempt in flight at that moment).
    late = [(at - back_at, i) for at, i in failures if at > back_at + 1.0]
    assert not late, f"calls failed after the runtime was back (seconds after, call index): {late}"
    last = f", the last {back_at - max(at for at, _ in failures):.2f} s before it was back" if failures else ""
    print(f"{repeat} calls, {len(failed)} failed during the restart ({failed[:10]}){last}; "
          f"{served_after} served by the restarted runtime; client stats {out['stats']}")


def test_plugwire_call_tls_from_env(procs, certs):
    """An entry without `mcp.tls` takes its mTLS material from PLUGINS_CLIENT_MTLS_* (the names both eras'
    clients read); the results are the expected ones, and without the variables the call fails."""
    port, _server_yaml, _runtime_proc = _runtime(procs, certs)
    gateway_yaml = _gateway_yaml(procs.workdir, port, None, file_name="gateway-env-tls.yaml")
    tls_env = {
        "PLUGINS_CLIENT_MTLS_CERTFILE": str(certs.client_cert),
        "PLUGINS_CLIENT_MTLS_KEYFILE": str(certs.client_key),
        "PLUGINS_CLIENT_MTLS_CA_BUNDLE": str(certs.ca),
        "PLUGINS_CLIENT_MTLS_VERIFY": "true",
        "PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME": "true",
    }
    for case_id, hook, payload in cases.CHAIN_CASES:
        code, ours, stderr = plugwire_call(procs, gateway_yaml, hook, payload, context=cases.GLOBAL_CONTEXT, env=tls_env)
        expected = cases.EXPECTED[case_id]
        assert code == (0 if expected["continue_processing"] else 3), f"{case_id}: exit {code}: {ours}\n{stderr}"
        cases.assert_chain_result(case_id, {"ok": True, "result": ours["result"],
                                            "violation_plugin": ours.get("violation_plugin")})
    # control: the same entry without the variables has neither our CA nor a client certificate
    _case, hook, payload = cases.CHAIN_CASES[2]
    done = subprocess.run([str(harness.PLUGWIRE), "call", "--config", str(gateway_yaml), "--hook", hook,
                           "--payload", json.dumps(payload), "--compact"], cwd=procs.workdir,
                          env=harness.base_env(LOG_LEVEL="INFO"), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and '"result"' not in done.stdout, (
        f"plugwire call succeeded without PLUGINS_CLIENT_MTLS_*:\n{done.stdout}\n{done.stderr}")


def test_plugwire_call_to_python_runtime_over_unix_socket(procs, current_era):
    """`plugwire call` with `mcp.uds` → the era's Python MCP runtime on PLUGINS_SERVER_UDS (plain HTTP over
    the socket): the same chain results the Python gateway client gets from it."""
    server_yaml = cases.write_yaml(procs.workdir / "server.yaml", cases.server_config())
    path = transports.socket_path(procs.workdir, "pym")
    environment = harness.python_env(PLUGINS_TRANSPORT="http", PLUGINS_CONFIG_PATH=str(server_yaml),
                                     PLUGINS_SERVER_UDS=str(path))
    procs.start("python-runtime-uds", [sys.executable, harness.HERE / "pyruntime.py"], environment)
    deadline = time.monotonic() + 90
    while not path.exists():
        assert time.monotonic() < deadline, "the Python runtime did not create its Unix socket within 90 s"
        time.sleep(0.2)
    time.sleep(0.5)  # the socket file appears just before the server accepts on it
    gateway_yaml = cases.write_yaml(procs.workdir / "gateway-uds.yaml", transports.mcp_uds_gateway_config(path))
    client = harness.start_python_client(procs)
    assert client.call(op="init", config=str(gateway_yaml))["ok"]
    compat = {"PLUGINS_COMPAT": "1.0"} if current_era.name == era.ERA_1_0 else None
    for case_id, hook, payload in cases.CHAIN_CASES:
        theirs = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        cases.assert_chain_result(case_id, theirs)
        code, ours, stderr = plugwire_call(procs, gateway_yaml, hook, payload, context=cases.GLOBAL_CONTEXT, env=compat)
        blocked = not theirs["result"]["continue_processing"]
        assert code == (3 if blocked else 0), f"{case_id}: exit {code}\n{stderr}"
        for key in cases.RESULT_KEYS_1_0:
            assert ours["result"][key] == theirs["result"][key], (
                f"{case_id}: {key}: plugwire call {ours['result'][key]!r} != Python client {theirs['result'][key]!r}")
    client.close()
