//! The one decoding pass names the failing key in full: one bad value per section of the plugins
//! YAML, and the exact `plugin 'name': key `path`` (or `key `plugins[i]...`` for an entry
//! without a usable name) in the message. Also: pydantic's lax coercions still load, and unknown
//! keys are still ignored everywhere but in plugwire's own `server_settings.limits`.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use plugwire_framework::*;

const FILE: &str = "conf/plugins.yaml";

fn err(yaml: &str) -> String {
    Config::load_str(yaml, FILE, &EmptyEnv)
        .unwrap_err()
        .to_string()
}

const MCP: &str = "proto: STREAMABLEHTTP, url: 'https://h:1/mcp'";

/// (YAML, where: `plugin 'P': key `...`` or `key `...``, message start).
fn cases() -> Vec<(String, &'static str, &'static str)> {
    let entry = |rest: &str| format!("plugins: [{{name: P, kind: external, {rest}}}]");
    vec![
        (
            "plugin_settings: {plugin_timeout: soon}".into(),
            "key `plugin_settings.plugin_timeout`",
            "expected an integer, found \"soon\"",
        ),
        (
            "plugin_settings: {include_user_info: perhaps}".into(),
            "key `plugin_settings.include_user_info`",
            "expected true or false, found \"perhaps\"",
        ),
        (
            "plugin_settings: 5".into(),
            "key `plugin_settings`",
            "expected a mapping, found the number 5",
        ),
        (
            "server_settings: {host: [a]}".into(),
            "key `server_settings.host`",
            "expected a string, found a list",
        ),
        (
            "server_settings: {tls: {require_valid_certificate: perhaps}}".into(),
            "key `server_settings.tls.require_valid_certificate`",
            "expected true or false",
        ),
        (
            "server_settings: {tls: {certfile: 5}}".into(),
            "key `server_settings.tls.certfile`",
            "expected a string, found the number 5",
        ),
        (
            "server_settings: {tls: [a]}".into(),
            "key `server_settings.tls`",
            "expected a mapping, found a list",
        ),
        (
            "server_settings: {limits: {drain_timeout: later}}".into(),
            "key `server_settings.limits.drain_timeout`",
            "expected a number, found \"later\"",
        ),
        (
            "server_settings: {limits: {max_conections: 3}}".into(),
            "key `server_settings.limits.max_conections`",
            "unknown key; expected one of `max_connections`, `body_timeout`, `body_min_rate`, `drain_timeout`",
        ),
        (
            "grpc_server_settings: {port: fifty}".into(),
            "key `grpc_server_settings.port`",
            "expected an integer, found \"fifty\"",
        ),
        (
            "grpc_server_settings: {tls: {keyfile_password: [x]}}".into(),
            "key `grpc_server_settings.tls.keyfile_password`",
            "expected a string, found a list",
        ),
        (
            "grpc_server_settings: {tls: {client_auth: true}}".into(),
            "key `grpc_server_settings.tls.client_auth`",
            "expected a string, found the boolean true",
        ),
        (
            "unix_socket_server_settings: {path: 7}".into(),
            "key `unix_socket_server_settings.path`",
            "expected a string, found the number 7",
        ),
        (
            "plugin_dirs: /plugins".into(),
            "key `plugin_dirs`",
            "expected a list, found the string \"/plugins\"",
        ),
        (
            "plugins: [{name: P, kind: k, max_content_size: big}]".into(),
            "plugin 'P': key `max_content_size`",
            "expected an integer, found \"big\"",
        ),
        (
            "plugins: [{name: P, kind: k, timeout: soon}]".into(),
            "plugin 'P': key `timeout`",
            "expected a number, found the string \"soon\"",
        ),
        (
            "plugins: [{name: P, kind: k, tags: [a, [b]]}]".into(),
            "plugin 'P': key `tags[1]`",
            "expected a string, found a list",
        ),
        (
            "plugins: [{name: P, kind: k}, {kind: k, priority: high}]".into(),
            "key `plugins[1].priority`",
            "expected an integer, found \"high\"",
        ),
        (
            "plugins: [{name: '', kind: k}]".into(),
            "key `plugins[0].name`",
            "the plugin name must not be empty",
        ),
        (
            "plugins: [{name: 5, kind: k}]".into(),
            "key `plugins[0].name`",
            "expected a string, found the number 5",
        ),
        (
            "plugins: [5]".into(),
            "key `plugins[0]`",
            "expected a plugin entry (a mapping), found the number 5",
        ),
        (
            "plugins: [{name: P, kind: k, conditions: [{}, {tools: weather}]}]".into(),
            "plugin 'P': key `conditions[1].tools`",
            "expected a list, found the string \"weather\"",
        ),
        (
            "plugins: [{name: P, kind: k, conditions: tools}]".into(),
            "plugin 'P': key `conditions`",
            "expected a list of conditions, found the string \"tools\"",
        ),
        (
            "plugins: [{name: P, kind: k, conditions: [null]}]".into(),
            "plugin 'P': key `conditions[0]`",
            "expected a mapping, found null",
        ),
        (
            entry(&format!("mcp: {{{MCP}, reconnect_attempts: many}}")),
            "plugin 'P': key `mcp.reconnect_attempts`",
            "expected an integer, found \"many\"",
        ),
        (
            entry(&format!("mcp: {{{MCP}, cmd: plugwire}}")),
            "plugin 'P': key `mcp.cmd`",
            "expected a list, found the string \"plugwire\"",
        ),
        (
            entry(&format!("mcp: {{{MCP}, tls: {{verify: sometimes}}}}")),
            "plugin 'P': key `mcp.tls.verify`",
            "expected true or false, found \"sometimes\"",
        ),
        (
            entry(&format!("mcp: {{{MCP}, tls: {{ca_bundle: 5}}}}")),
            "plugin 'P': key `mcp.tls.ca_bundle`",
            "expected a string, found the number 5",
        ),
        (
            entry("grpc: {target: 5}"),
            "plugin 'P': key `grpc.target`",
            "expected a string, found the number 5",
        ),
        (
            entry("grpc: {target: 'h:1', tls: {verify: maybe}}"),
            "plugin 'P': key `grpc.tls.verify`",
            "expected true or false, found \"maybe\"",
        ),
        (
            entry("grpc: {target: 'h:1', tls: {ca_crl: [a]}}"),
            "plugin 'P': key `grpc.tls.ca_crl`",
            "expected a string, found a list",
        ),
        (
            entry("unix_socket: {path: /run/p.sock, timeout: soon}"),
            "plugin 'P': key `unix_socket.timeout`",
            "expected a number, found \"soon\"",
        ),
        (
            entry("unix_socket: {timeout: 3}"),
            "plugin 'P': key `unix_socket.path`",
            "missing; this key is required",
        ),
        (
            "hello".into(),
            "key `(top level)`",
            "expected a mapping with `plugins:` and `plugin_settings:`, found the string \"hello\"",
        ),
    ]
}

#[test]
fn each_section_names_the_failing_key_in_full() {
    for (yaml, at, message) in cases() {
        let e = err(&yaml);
        let want = format!("{FILE}: {at}: {message}");
        assert!(e.starts_with(&want), "{yaml}\n  want: {want}\n  got:  {e}");
    }
}

#[test]
fn lax_coercions_load_in_every_section() {
    let text = r#"
plugin_settings: {plugin_timeout: "12", parallel_execution_within_band: "on", execution_pool: "3",
                  plugin_health_check_interval: 7.0, include_user_info: 1}
server_settings:
  port: " 9000 "
  tls: {ssl_cert_reqs: "1", require_valid_certificate: "no"}
  limits: {max_connections: "10", body_timeout: "2.5", body_min_rate: "0", drain_timeout: 3}
grpc_server_settings: {port: "50052"}
plugins:
  - name: M
    kind: external
    priority: "5"
    max_content_size: "100"
    mcp: {proto: STREAMABLEHTTP, url: "https://h/mcp", reconnect_attempts: "4", reconnect_delay: "0.5",
          tls: {verify: "yes", check_hostname: "off"}}
  - name: G
    kind: external
    grpc: {target: "h:1", tls: {verify: "false"}}
  - name: U
    kind: external
    unix_socket: {path: /run/p.sock, reconnect_attempts: "2", reconnect_delay: "1", timeout: "3"}
"#;
    let c = Config::load_str(text, FILE, &EmptyEnv).unwrap();
    let s = &c.plugin_settings;
    assert_eq!((s.plugin_timeout, s.plugin_health_check_interval), (12, 7));
    assert!(s.parallel_execution_within_band && s.include_user_info);
    assert_eq!(s.execution_pool, Some(3));
    let server = c.server_settings.as_ref().unwrap();
    assert_eq!(server.port, Some(9000));
    let tls = server.tls.as_ref().unwrap();
    assert_eq!(
        (tls.own.ssl_cert_reqs, tls.own.require_valid_certificate),
        (Some(1), Some(false))
    );
    let limits = server.limits.as_ref().unwrap();
    assert_eq!(
        (
            limits.max_connections,
            limits.body_timeout,
            limits.body_min_rate
        ),
        (Some(10), Some(2.5), Some(0))
    );
    assert_eq!(limits.drain_timeout, Some(3.0));
    assert_eq!(c.grpc_server_settings.as_ref().unwrap().port, Some(50052));
    let m = &c.plugins[0];
    assert_eq!((m.priority, m.max_content_size), (5, 100));
    let mcp = m.mcp.as_ref().unwrap();
    assert_eq!((mcp.reconnect_attempts, mcp.reconnect_delay), (4, 0.5));
    let t = mcp.tls.as_ref().unwrap();
    assert_eq!(
        (t.own.verify, t.own.check_hostname),
        (Some(true), Some(false))
    );
    let g = c.plugins[1].grpc.as_ref().unwrap();
    assert_eq!(g.tls.as_ref().unwrap().own.verify, Some(false));
    let u = c.plugins[2].unix_socket.as_ref().unwrap();
    assert_eq!(
        (u.reconnect_attempts, u.reconnect_delay, u.timeout),
        (2, 1.0, 3.0)
    );
}

#[test]
fn lax_coercions_still_refuse_what_pydantic_refuses() {
    for (yaml, key) in [
        (
            "plugin_settings: {plugin_timeout: 7.5}",
            "plugin_settings.plugin_timeout",
        ),
        (
            "plugin_settings: {plugin_timeout: null}",
            "plugin_settings.plugin_timeout",
        ),
        (
            "plugin_settings: {enable_plugin_api: 2}",
            "plugin_settings.enable_plugin_api",
        ),
        ("server_settings: {port: '80.5'}", "server_settings.port"),
        (
            "server_settings: {tls: {ssl_cert_reqs: CERT_REQUIRED}}",
            "server_settings.tls.ssl_cert_reqs",
        ),
        (
            "server_settings: {limits: {body_timeout: [1]}}",
            "server_settings.limits.body_timeout",
        ),
    ] {
        let e = err(yaml);
        assert!(
            e.contains(&format!("key `{key}`: expected ")),
            "{yaml}: {e}"
        );
    }
    let e = err("server_settings: {tls: {ssl_cert_reqs: CERT_REQUIRED}}");
    assert!(e.contains("not the Python CERT_* name"), "{e}");
}

#[test]
fn unknown_keys_are_ignored_except_in_limits() {
    let c = Config::load_str(
        "future_section: {a: 1}\nplugin_settings: {new_knob: x}\nserver_settings: {tls: {ciphers: x}}\n\
         plugins:\n  - {name: G, kind: external, extra: 1, grpc: {target: 'h:1', tls: {check_hostname: maybe}}}\n",
        FILE,
        &EmptyEnv,
    )
    .unwrap();
    // `check_hostname` is not a `grpc.tls` key (cpex has none there): ignored, as before.
    let g = c.plugins[0].grpc.as_ref().unwrap().tls.as_ref().unwrap();
    assert_eq!(g.own.verify, None);
    assert!(
        c.plugins[0].is_set("extra"),
        "set_fields lists every key present"
    );
    let e = err("server_settings: {limits: {max_connections: 3, drain: 1}}");
    assert!(
        e.contains("key `server_settings.limits.drain`: unknown key"),
        "{e}"
    );
}

#[test]
fn tls_blocks_round_trip_in_the_python_key_order() {
    let c = Config::load_str(
        &format!("plugins: [{{name: X, kind: external, mcp: {{{MCP}, tls: {{check_hostname: false, ca_bundle: /ca.pem}}}}}}, {{name: G, kind: external, grpc: {{target: 'h:1', tls: {{certfile: /c.pem}}}}}}]"),
        FILE,
        &EmptyEnv,
    )
    .unwrap();
    let mcp_tls = &c.plugins[0].to_json()["mcp"]["tls"];
    assert_eq!(
        serde_json::to_string(mcp_tls).unwrap(),
        r#"{"certfile":null,"keyfile":null,"ca_bundle":"/ca.pem","keyfile_password":null,"verify":true,"check_hostname":false}"#
    );
    let grpc_tls = &c.plugins[1].to_json()["grpc"]["tls"];
    assert_eq!(
        serde_json::to_string(grpc_tls).unwrap(),
        r#"{"certfile":"/c.pem","keyfile":null,"ca_bundle":null,"keyfile_password":null,"verify":true}"#
    );
    // Back from JSON: the same object again (an unset `verify` was sent as its default `true`).
    let back = PluginConfig::from_json(c.plugins[0].to_json()).unwrap();
    assert_eq!(back.to_json(), c.plugins[0].to_json());
    assert_eq!(back.mcp.unwrap().tls.unwrap().own.verify, Some(true));
}
