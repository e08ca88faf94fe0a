"""The Python gateway's own plugin client (1.0.0, or cpex under 1.1.0) against `plugwire serve`.

The gateway side is the era's `PluginManager` with two `kind: external` entries whose `mcp.tls`
has the gateway certificate from `plugwire certs` and `check_hostname: true`, at
`https://localhost:PORT/mcp` (the 1.0.0 client refuses 127.0.0.1, the 1.1.0 client's SSRF guard
refuses 127.0.0.1 literals). The server is `plugwire serve --config` with the SearchReplace + DenyList
config under their Python kind paths, mTLS from PLUGINS_SERVER_* (ssl_cert_reqs=2), or a Unix socket.
"""

import cases
import harness
import transports


def _serve(procs, certs, port=None, name="plugwire-serve"):
    port = port or harness.free_port()
    server_yaml = procs.workdir / "server.yaml"
    if not server_yaml.exists():
        cases.write_yaml(server_yaml, cases.server_config())
    proc = harness.start_plugwire_serve(procs, port, certs, server_yaml, name=name)
    return port, server_yaml, proc


def _client(procs, certs, port):
    gateway_yaml = cases.write_yaml(procs.workdir / "gateway.yaml", cases.gateway_config(port, certs))
    client = harness.start_python_client(procs)
    init = client.call(op="init", config=str(gateway_yaml))
    assert init["ok"], f"the Python gateway could not load the plugins from plugwire serve: {init}"
    return client, init


def test_python_gateway_loads_remote_configs_and_gets_hook_results(procs, certs, current_era):
    port, _server_yaml, _serve_proc = _serve(procs, certs)
    client, init = _client(procs, certs, port)

    # get_plugin_config answered with the server's config, merged under the local `kind: external` entry
    plugins = init["plugins"]
    assert set(plugins) == set(cases.PLUGIN_NAMES)
    deny, replace = plugins["DenyListPlugin"], plugins["ReplaceBadWordsPlugin"]
    assert deny["kind"] == "external" and replace["kind"] == "external"
    assert deny["hooks"] == ["prompt_pre_fetch", "tool_pre_invoke"]
    assert replace["hooks"] == ["prompt_pre_fetch", "prompt_post_fetch", "tool_pre_invoke", "tool_post_invoke"]
    assert (deny["priority"], replace["priority"]) == (100, 150)
    # plugwire reports the 1.0.0 name; a 1.1.0 client migrates it on input
    assert deny["mode"] == replace["mode"] == current_era.mode_name("enforce")
    assert deny["config"] == {"words": cases.DENY_WORDS}
    assert replace["config"] == {"words": cases.REPLACE_WORDS}

    # the whole chain as the gateway runs it: replaced prompt and tool args, DenyList block
    for case_id, hook, payload in cases.CHAIN_CASES:
        answer = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        cases.assert_chain_result(case_id, answer)
    # the plugin's context state written on the server comes back to the gateway's context
    single = client.call(op="plugin", name="DenyListPlugin", hook="tool_pre_invoke",
                         payload={"name": "search", "args": {"q": "fine"}})
    assert single["ok"] and single["result"]["continue_processing"] is True, single
    assert single["context"]["state"] == {"deny_checked": True}, single
    client.close()


def test_same_results_as_python_runtime(procs, certs):
    """Every chain call gives the Python client identical JSON from plugwire serve and from the Python runtime."""
    port, server_yaml, _serve_proc = _serve(procs, certs)
    py_port = harness.free_port()
    harness.start_python_runtime(procs, py_port, certs, server_yaml)
    from_plugwire, _ = _client(procs, certs, port)
    py_gateway_yaml = cases.write_yaml(procs.workdir / "gateway-python.yaml", cases.gateway_config(py_port, certs))
    from_python = harness.start_python_client(procs)
    assert from_python.call(op="init", config=str(py_gateway_yaml))["ok"]
    for case_id, hook, payload in cases.CHAIN_CASES:
        ours = from_plugwire.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        theirs = from_python.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        assert cases.comparable(ours) == cases.comparable(theirs), f"{case_id}: plugwire serve {ours} != Python runtime {theirs}"
    from_plugwire.close()
    from_python.close()


def test_same_plugin_manager_survives_plugwire_serve_restart(procs, certs):
    """plugwire serve issues no MCP session, so its restart does not break the gateway's plugin sessions
    (both eras' clients fail for good once a session they hold is lost, see test_python_pair)."""
    port, server_yaml, serve_proc = _serve(procs, certs)
    client, _init = _client(procs, certs, port)
    case_id, hook, payload = cases.CHAIN_CASES[0]
    cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                     global_context=cases.GLOBAL_CONTEXT))

    code = serve_proc.stop()
    assert code == 0, f"plugwire serve did not exit 0 on SIGTERM (got {code})"
    harness.start_plugwire_serve(procs, port, certs, server_yaml, name="plugwire-serve-restarted")

    # the SAME PluginManager (same process, same ExternalPlugin sessions) keeps working
    for case_id, hook, payload in cases.CHAIN_CASES:
        answer = client.call(op="invoke", hook=hook, payload=payload, global_context=cases.GLOBAL_CONTEXT)
        cases.assert_chain_result(case_id, answer)
    client.close()


def test_tools_call_errors_stay_recoverable(procs, certs):
    """A plugin-level error comes back as a PluginError inside a normal result (never a JSON-RPC error
    or an HTTP error, which both eras' clients turn into a dead session), and the next call works."""
    port, _server_yaml, _serve_proc = _serve(procs, certs)
    client, _init = _client(procs, certs, port)

    # a hook the server-side plugin does not have
    unknown_hook = client.call(op="plugin", name="DenyListPlugin", hook="tool_post_invoke",
                               payload={"name": "search", "result": {"text": "x"}})
    assert unknown_hook == {"ok": False, "error_type": "PluginError", "error": unknown_hook.get("error")}, unknown_hook
    assert unknown_hook["error"]["plugin_name"] == "DenyListPlugin"
    assert "tool_post_invoke" in unknown_hook["error"]["message"], unknown_hook

    # a payload the server cannot validate (sent raw: `name` missing, `args` not an object)
    bad_payload = client.call(op="plugin", name="ReplaceBadWordsPlugin", hook="tool_pre_invoke",
                              payload={"args": "not-an-object"}, raw=True)
    assert bad_payload["ok"] is False and bad_payload["error_type"] == "PluginError", bad_payload
    assert bad_payload["error"]["plugin_name"] == "ReplaceBadWordsPlugin"

    # both plugins still answer on the same sessions
    ok = client.call(op="plugin", name="ReplaceBadWordsPlugin", hook="tool_pre_invoke",
                     payload={"name": "search", "args": {"q": "crap"}})
    assert ok["ok"], f"the session did not survive the error: {ok}"
    assert ok["result"]["modified_payload"]["args"] == {"q": "yikes"}
    case_id, hook, payload = cases.CHAIN_CASES[1]
    cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                     global_context=cases.GLOBAL_CONTEXT))
    client.close()


def test_python_gateway_over_unix_socket(procs, workdir):
    """`mcp.uds` entries → `plugwire serve` on PLUGINS_SERVER_UDS: configs merged, the whole chain, the
    plugin's context state, and a restart of plugwire serve survived by the same PluginManager."""
    path = transports.socket_path(workdir, "pw")
    server_yaml = cases.write_yaml(workdir / "server.yaml", cases.server_config())
    serve = transports.start_plugwire_serve_uds(procs, path, server_yaml)
    gateway_yaml = cases.write_yaml(workdir / "gateway.yaml", transports.mcp_uds_gateway_config(path))
    client = harness.start_python_client(procs)
    init = client.call(op="init", config=str(gateway_yaml))
    assert init["ok"], f"the Python gateway could not load the plugins over the Unix socket: {init}"
    assert init["plugins"]["DenyListPlugin"]["hooks"] == ["prompt_pre_fetch", "tool_pre_invoke"], init
    for case_id, hook, payload in cases.CHAIN_CASES:
        cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                         global_context=cases.GLOBAL_CONTEXT))
    single = client.call(op="plugin", name="DenyListPlugin", hook="tool_pre_invoke",
                         payload={"name": "search", "args": {"q": "fine"}})
    assert single["ok"] and single["context"]["state"] == {"deny_checked": True}, single

    assert serve.stop() == 0, "plugwire serve did not exit 0 on SIGTERM"
    transports.start_plugwire_serve_uds(procs, path, server_yaml, name="plugwire-serve-uds-restarted")
    for case_id, hook, payload in cases.CHAIN_CASES:
        cases.assert_chain_result(case_id, client.call(op="invoke", hook=hook, payload=payload,
                                                         global_context=cases.GLOBAL_CONTEXT))
    client.close()
