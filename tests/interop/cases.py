"""What the interop tests send and expect: the plugin server config, the gateway-side config, the
hook calls and their expected results. Shared by every test so plugwire and the Python peer are
checked against the same table.
"""

from __future__ import annotations

from pathlib import Path

import yaml


# --------------------------------------------------------------------------------------- configs
REPLACE_WORDS = [{"search": "crap", "replace": "crud"}, {"search": "crud", "replace": "yikes"}]
DENY_WORDS = ["innovative", "groundbreaking", "revolutionary"]
PLUGIN_NAMES = ["ReplaceBadWordsPlugin", "DenyListPlugin"]


def server_config() -> dict:
    """The plugin server's YAML: SearchReplace + DenyList under their Python kind paths.

    The same file drives the Python runtime (our stand-in modules in pyplugins/) and `plugwire serve`
    (which accepts the Python kind paths for its built-ins). Host/port/TLS come from PLUGINS_SERVER_*.
    """
    return {
        "plugins": [
            {
                "name": "ReplaceBadWordsPlugin",
                "kind": "plugins.regex_filter.search_replace.SearchReplacePlugin",
                "description": "replaces bad words",
                "version": "0.1.0",
                "author": "plugwire interop",
                "hooks": ["prompt_pre_fetch", "prompt_post_fetch", "tool_pre_invoke", "tool_post_invoke"],
                "tags": ["plugin", "transformer", "regex"],
                "mode": "enforce",
                "priority": 150,
                "config": {"words": REPLACE_WORDS},
            },
            {
                "name": "DenyListPlugin",
                "kind": "plugins.deny_filter.deny.DenyListPlugin",
                "description": "blocks prompts with deny words",
                "version": "0.1.0",
                "author": "plugwire interop",
                "hooks": ["prompt_pre_fetch", "tool_pre_invoke"],
                "tags": ["plugin", "filter", "denylist"],
                "mode": "enforce",
                "priority": 100,
                "config": {"words": DENY_WORDS},
            },
        ],
        "plugin_settings": {"plugin_timeout": 30, "fail_on_plugin_error": True},
    }


def gateway_config(port: int, certs) -> dict:
    """The gateway side: both plugins as `kind: external` on https://localhost:PORT/mcp, with `mcp.tls`
    from `certs` (a harness.CertSet) when given."""
    plugins = []
    for name in PLUGIN_NAMES:
        mcp = {"proto": "STREAMABLEHTTP", "url": f"https://localhost:{port}/mcp"}
        if certs is not None:
            mcp["tls"] = certs.client_tls_yaml()
        plugins.append({"name": name, "kind": "external", "mcp": mcp})
    # fail_on_plugin_error: a plugin that cannot connect must fail the manager, not be skipped
    return {"plugins": plugins, "plugin_settings": {"plugin_timeout": 30, "fail_on_plugin_error": True}}


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ------------------------------------------------------------------------------- the hook calls
GLOBAL_CONTEXT = {"request_id": "interop-1", "user": "alice@example.com", "server_id": "srv-1"}

# (id, hook, payload): run as the gateway runs them (the whole chain) against every server.
CHAIN_CASES = [
    ("prompt_replaced", "prompt_pre_fetch", {"prompt_id": "test_prompt", "args": {"user": "what a crap day", "topic": "crud"}}),
    ("prompt_denied", "prompt_pre_fetch", {"prompt_id": "test_prompt", "args": {"user": "an innovative crap idea"}}),
    ("tool_replaced", "tool_pre_invoke", {"name": "search", "args": {"q": "crap", "n": 3}}),
    ("tool_denied", "tool_pre_invoke", {"name": "search", "args": {"n": 1, "q": "groundbreaking crap"}}),
    ("tool_result_replaced", "tool_post_invoke", {"name": "search", "result": {"text": "crap result", "count": 1}}),
]

def deny_violation(arg: str) -> dict:
    return {
        "reason": "Prompt not allowed",
        "description": "A deny word was found in the prompt",
        "code": "deny",
        "details": {"arg": arg},
    }

# What each CHAIN_CASES call must give (SearchReplace as upstream's, docs/decisions.md #25; DenyList as the reference
# server of the wire captures, i.e. what plugwire's built-ins and their Rust tests do): modified
# payload, or the DenyList block.
EXPECTED = {
    "prompt_replaced": {"continue_processing": True, "violation_plugin": None,
                        "modified_payload": {"prompt_id": "test_prompt", "args": {"user": "what a yikes day", "topic": "yikes"}}},
    "prompt_denied": {"continue_processing": False, "violation_plugin": "DenyListPlugin", "violation": deny_violation("user")},
    "tool_denied": {"continue_processing": False, "violation_plugin": "DenyListPlugin", "violation": deny_violation("q")},
    "tool_replaced": {"continue_processing": True, "violation_plugin": None,
                      "modified_payload": {"name": "search", "args": {"q": "yikes", "n": 3}}},
    "tool_result_replaced": {"continue_processing": True, "violation_plugin": None,
                             "modified_payload": {"name": "search", "result": {"text": "yikes result", "count": 1}}},
}


def assert_chain_result(case_id: str, answer: dict) -> None:
    """Check one pyclient `invoke` answer against EXPECTED[case_id]."""
    assert answer.get("ok"), f"{case_id}: the call failed: {answer}"
    expected = EXPECTED[case_id]
    result = answer["result"]
    assert result["continue_processing"] is expected["continue_processing"], f"{case_id}: {result}"
    assert answer["violation_plugin"] == expected["violation_plugin"], f"{case_id}: {answer}"
    if "violation" in expected:
        violation = result["violation"]
        assert violation is not None, f"{case_id}: no violation in {result}"
        for key, value in expected["violation"].items():
            assert violation[key] == value, f"{case_id}: violation.{key} = {violation[key]!r}, expected {value!r}"
    else:
        assert result["violation"] is None, f"{case_id}: unexpected violation {result['violation']}"
    if "modified_payload" in expected:
        payload = result["modified_payload"]
        assert payload is not None, f"{case_id}: no modified_payload in {result}"
        for key, value in expected["modified_payload"].items():
            assert payload[key] == value, f"{case_id}: modified_payload.{key} = {payload[key]!r}, expected {value!r}"


# The keys of a 1.0.0 PluginResult (a 1.1.0 one adds modified_extensions, denial_metadata, executions).
RESULT_KEYS_1_0 = ("continue_processing", "modified_payload", "violation", "metadata", "http_headers", "retry_delay_ms")

# Per-process or timing values inside a 1.1.0 chain result's `executions` records (a uuid per plugin
# instance, nanoseconds measured): they differ between any two runs, so comparisons drop them.
_VOLATILE_EXECUTION_KEYS = ("plugin_id", "duration_ns")


def comparable(answer: dict) -> dict:
    """A pyclient answer with the volatile `executions` fields removed (1.0.0 results have no executions)."""
    result = answer.get("result")
    if not isinstance(result, dict) or not result.get("executions"):
        return answer
    executions = [{k: v for k, v in record.items() if k not in _VOLATILE_EXECUTION_KEYS} for record in result["executions"]]
    return {**answer, "result": {**result, "executions": executions}}
