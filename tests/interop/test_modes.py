"""A 1.1.0-style plugin YAML (`mode: sequential | transform | audit`, `on_error`) served to both eras' clients.

Each test runs against two servers with the same plugins: the era's own Python runtime (the
reference; under 1.0.0 it gets the same YAML with the 1.0.0 mode names, which it requires) and
`plugwire serve` with the 1.1.0 vocabulary. The gateway entries say only `kind: external` + `mcp`,
so the mode each client applies is the one the server reports in `get_plugin_config`:
- a 1.1.0 (cpex) client migrates 1.0.0 names on input (`enforce` → `sequential`, `permissive` →
  `transform`) and runs phases: sequential, then transform (may modify, never blocks), then audit
  (sees the payload, changes nothing, never blocks);
- a 1.0.0 client knows only `enforce`, `enforce_ignore_error`, `permissive`, `disabled`, so plugwire
  must report those names where they mean the same (sequential+on_error:ignore is
  enforce_ignore_error, transform + ignore is permissive); `audit` has no 1.0.0 name and is tested under 1.1.0.

Each test runs against the era's own Python runtime (the reference) and against `plugwire serve`.
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

import cases
import era
import harness

# What the 1.0.0 runtime needs instead of the 1.1.0 names (and what a 1.0.0 client should be shown).
# The 1.0.0 name with the same meaning (docs/eras.md): `transform` + `fail` has none (1.0.0's
# `permissive` skips errors, 1.1.0's transform + fail aborts on them), so plugwire reports it as
# `transform`, which only a 1.1.0 client can load; the tests use transform + ignore where both eras
# must agree.
_LEGACY = {("sequential", "fail"): "enforce", ("sequential", "ignore"): "enforce_ignore_error",
           ("transform", "ignore"): "permissive"}


def modes_config(replace_mode: str, deny_mode: str, replace_on_error: str = "fail", deny_on_error: str = "fail") -> dict:
    """cases.server_config() with 1.1.0 `mode` + `on_error` on each plugin (its `plugin_settings` stay:
    the 1.0.0 runtime requires the key, cpex ignores it)."""
    config = copy.deepcopy(cases.server_config())
    for plugin, mode, on_error in ((config["plugins"][0], replace_mode, replace_on_error),
                                   (config["plugins"][1], deny_mode, deny_on_error)):
        plugin["mode"], plugin["on_error"] = mode, on_error
    return config


def legacy_config(config: dict) -> dict:
    """The same YAML in 1.0.0 names (for the 1.0.0 Python runtime), without `on_error`."""
    config = copy.deepcopy(config)
    for plugin in config["plugins"]:
        plugin["mode"] = _LEGACY[(plugin["mode"], plugin.pop("on_error"))]
    return config


def _start(server: str, procs, certs, config: dict):
    """Start `server` ("python" or "plugwire") with `config`; returns its port."""
    port = harness.free_port()
    if server == "python":
        if harness.ERA.name == era.ERA_1_0:
            config = legacy_config(config)
        server_yaml = cases.write_yaml(procs.workdir / "server-python.yaml", config)
        harness.start_python_runtime(procs, port, certs, server_yaml)
    else:
        server_yaml = cases.write_yaml(procs.workdir / "server-plugwire.yaml", config)
        harness.start_plugwire_serve(procs, port, certs, server_yaml)
    return port


def _client(procs, certs, port):
    gateway_yaml = cases.write_yaml(procs.workdir / "gateway.yaml", cases.gateway_config(port, certs))
    client = harness.start_python_client(procs)
    init = client.call(op="init", config=str(gateway_yaml))
    assert init["ok"], f"the Python gateway could not load the plugins: {init}"
    return client, init["plugins"], gateway_yaml


def _invoke(client, hook, payload):
    answer = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
    assert answer["ok"], answer
    return answer["result"]


SERVERS = pytest.mark.parametrize("server", ["python", "plugwire"])


@SERVERS
def test_sequential_and_on_error_reach_both_eras(server, procs, certs, current_era):
    """`mode: sequential` with `on_error: ignore | fail`: each era's client loads the plugins under names
    it knows, and the chain gives the same results as the 1.0.0 YAML (every CHAIN_CASES call)."""
    port = _start(server, procs, certs, modes_config("sequential", "sequential", replace_on_error="ignore"))
    client, plugins, _gateway_yaml = _client(procs, certs, port)
    replace, deny = plugins["ReplaceBadWordsPlugin"], plugins["DenyListPlugin"]
    if current_era.name == era.ERA_1_0:
        assert (replace["mode"], deny["mode"]) == ("enforce_ignore_error", "enforce"), plugins
    else:
        assert (replace["mode"], deny["mode"]) == ("sequential", "sequential"), plugins
        assert (replace["on_error"], deny["on_error"]) == ("ignore", "fail"), plugins
    for case_id, hook, payload in cases.CHAIN_CASES:
        cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                         global_context=cases.GLOBAL_CONTEXT))
    client.close()


@SERVERS
def test_transform_violation_does_not_block(server, procs, certs, current_era):
    """DenyList as `mode: transform`: its violation is logged and dropped, the chain continues with the
    sequential SearchReplace's rewrite, in both eras (transform + ignore: the 1.0.0 client sees `permissive`)."""
    port = _start(server, procs, certs, modes_config("sequential", "transform", deny_on_error="ignore"))
    client, plugins, _gateway_yaml = _client(procs, certs, port)
    assert plugins["DenyListPlugin"]["mode"] == current_era.mode_name("permissive"), plugins
    assert plugins["ReplaceBadWordsPlugin"]["mode"] == current_era.mode_name("enforce"), plugins

    result = _invoke(client, "prompt_pre_fetch", {"prompt_id": "test_prompt", "args": {"user": "an innovative crap idea"}})
    assert result["continue_processing"] is True and result["violation"] is None, result
    assert result["modified_payload"]["args"] == {"user": "an innovative yikes idea"}, result
    result = _invoke(client, "tool_pre_invoke", {"name": "search", "args": {"n": 1, "q": "groundbreaking crap"}})
    assert result["continue_processing"] is True and result["violation"] is None, result
    assert result["modified_payload"]["args"] == {"n": 1, "q": "groundbreaking yikes"}, result
    if current_era.name == era.ERA_1_1:
        modes = {(r["plugin_name"], r["mode"]) for r in result["executions"]}
        assert modes == {("ReplaceBadWordsPlugin", "sequential"), ("DenyListPlugin", "transform")}, result
    client.close()


@pytest.mark.era(era.ERA_1_1)
@SERVERS
def test_audit_plugin_changes_nothing(server, procs, certs):
    """SearchReplace as `mode: audit`: it is called (an execution record) but its rewrite is discarded;
    the sequential DenyList still blocks. `audit` has no 1.0.0 name, so this is a 1.1.0 client test."""
    port = _start(server, procs, certs, modes_config("audit", "sequential"))
    client, plugins, _gateway_yaml = _client(procs, certs, port)
    assert plugins["ReplaceBadWordsPlugin"]["mode"] == "audit", plugins

    # DenyList's tool_pre_invoke returns no payload, so nothing but the audit plugin could modify this one
    result = _invoke(client, "tool_pre_invoke", {"name": "search", "args": {"q": "crap", "n": 3}})
    assert result["continue_processing"] is True and result["violation"] is None, result
    assert result["modified_payload"] is None, f"the audit plugin's rewrite was applied: {result}"
    audit = [r for r in result["executions"] if r["plugin_name"] == "ReplaceBadWordsPlugin"]
    assert len(audit) == 1 and audit[0]["mode"] == "audit" and audit[0]["status"] == "completed", result
    # tool_post_invoke: only the audit plugin has it
    result = _invoke(client, "tool_post_invoke", {"name": "search", "result": {"text": "crap result", "count": 1}})
    assert result["continue_processing"] is True and result["modified_payload"] is None, result
    # the sequential plugin still blocks
    cases.assert_chain_result("tool_denied", client.call(op="invoke", hook="tool_pre_invoke",
                                                         payload={"name": "search", "args": {"n": 1, "q": "groundbreaking crap"}},
                                                         global_context=cases.GLOBAL_CONTEXT))
    client.close()


@SERVERS
def test_plugwire_call_applies_transform_like_python_client(server, procs, certs):
    """`plugwire call` against the same servers applies the reported `transform` mode as the Python client
    does: identical continue/violation/modified_payload for the deny-word calls."""
    port = _start(server, procs, certs, modes_config("sequential", "transform", deny_on_error="ignore"))
    client, _plugins, gateway_yaml = _client(procs, certs, port)
    for hook, payload in (("prompt_pre_fetch", {"prompt_id": "test_prompt", "args": {"user": "an innovative crap idea"}}),
                          ("tool_pre_invoke", {"name": "search", "args": {"n": 1, "q": "groundbreaking crap"}})):
        theirs = _invoke(client, hook, payload)
        argv = [str(harness.PLUGWIRE), "call", "--config", str(gateway_yaml), "--hook", hook,
                "--payload", json.dumps(payload), "--context", json.dumps(cases.GLOBAL_CONTEXT), "--compact"]
        done = subprocess.run(argv, cwd=procs.workdir, env=harness.base_env(LOG_LEVEL="INFO"),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"plugwire call exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
        ours = json.loads(done.stdout)["result"]
        for key in ("continue_processing", "violation", "modified_payload"):
            assert ours[key] == theirs[key], f"{hook}: {key}: plugwire call {ours[key]!r} != Python client {theirs[key]!r}"
    client.close()
