//! Config loading: defaults (those of the Python 1.0.0 config models), templating
//! (docs/decisions.md #5), fail-fast errors naming file/plugin/key and transport rules (#15).

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plugwire_framework::*;
use serde_json::json;

/// An in-memory environment: tests never touch the process's.
fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(yaml: &str) -> Result<Config, ConfigError> {
    Config::load_str(yaml, "conf/plugins.yaml", &EmptyEnv)
}

fn err(yaml: &str) -> String {
    load(yaml).unwrap_err().to_string()
}

/// The message names the file, the plugin and the key.
fn assert_names(msg: &str, plugin: &str, key: &str) {
    assert!(msg.contains("conf/plugins.yaml"), "no file in: {msg}");
    assert!(msg.contains(&format!("'{plugin}'")), "no plugin in: {msg}");
    assert!(
        msg.contains(&format!("`{key}`")),
        "no key `{key}` in: {msg}"
    );
}

#[test]
fn defaults_follow_the_python_models() {
    let c = load("plugins:\n  - name: P\n    kind: k\nplugin_settings: {}\n").unwrap();
    let p = &c.plugins[0];
    assert_eq!(p.mode, PluginMode::Sequential);
    assert_eq!(p.on_error, None);
    assert_eq!(p.effective_on_error(), OnError::Fail);
    assert_eq!(p.max_content_size, 10_000_000);
    assert!(p.capabilities.is_empty());
    assert_eq!(p.priority, 100);
    assert!(p.hooks.is_empty() && p.tags.is_empty() && p.conditions.is_empty());
    assert_eq!(p.config, None);
    assert!(p.is_set("name") && p.is_set("kind") && !p.is_set("mode"));
    let s = &c.plugin_settings;
    assert!(!s.parallel_execution_within_band && !s.fail_on_plugin_error);
    assert_eq!((s.plugin_timeout, s.plugin_health_check_interval), (30, 60));
    assert!(c.plugin_dirs.is_empty() && c.server_settings.is_none());
    // An empty file and `plugins: null` load with no plugins.
    assert!(load("").unwrap().plugins.is_empty());
    assert!(load("plugins: null\nplugin_settings: {}\n")
        .unwrap()
        .plugins
        .is_empty());
    // Negative priorities are accepted, as in Python.
    assert_eq!(
        load("plugins: [{name: N, kind: k, priority: -10}]")
            .unwrap()
            .plugins[0]
            .priority,
        -10
    );
}

#[test]
fn plugin_config_serializes_like_get_plugin_config() {
    let c = load("plugins: [{name: P, kind: k, hooks: [tool_pre_invoke], conditions: [{tools: [b, a], prompts: [], content_types: ['Text/HTML; q=1']}]}]").unwrap();
    let v = c.plugins[0].to_json();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "name",
            "description",
            "author",
            "kind",
            "namespace",
            "version",
            "hooks",
            "tags",
            "mode",
            "on_error",
            "priority",
            "max_content_size",
            "conditions",
            "applied_to",
            "capabilities",
            "config",
            "mcp",
            "grpc",
            "unix_socket"
        ]
    );
    assert_eq!(v["mode"], "sequential");
    assert_eq!(v["on_error"], "fail");
    assert_eq!(v["max_content_size"], 10_000_000);
    assert_eq!(v["capabilities"], json!([]));
    assert_eq!(
        v["conditions"][0],
        json!({"server_ids": null, "tenant_ids": null, "tools": ["a", "b"], "prompts": null, "resources": null,
               "agents": null, "user_patterns": null, "content_types": ["text/html"]})
    );
}

#[test]
fn upstream_shaped_config_loads_and_disabled_entries_are_never_resolved() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-like.yaml");
    let c = Config::load(&path, &EmptyEnv).unwrap();
    assert_eq!(c.plugins.len(), 8);
    let rl = c.plugin("RateLimiterPlugin").unwrap();
    assert_eq!(
        rl.config.as_ref().unwrap()["redis_url"],
        "redis://redis:6379/0"
    );
    assert!(
        c.plugin_settings.parallel_execution_within_band,
        "parsed (and ignored)"
    );
    assert_eq!(c.plugin_settings.plugin_timeout, 120);
    assert_eq!(c.plugin_dirs.len(), 3);
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
    let webhook = c.plugin("WebhookNotification").unwrap();
    let tmpl = webhook.config.as_ref().unwrap()["default_template"]
        .as_str()
        .unwrap();
    assert!(
        tmpl.contains("{{event}}"),
        "non-env expressions are kept: {tmpl}"
    );

    // Only the two enabled entries are resolved: register just their kinds.
    struct Nop(PluginConfig);
    #[async_trait]
    impl Plugin for Nop {
        fn config(&self) -> &PluginConfig {
            &self.0
        }
    }
    let mut reg = PluginRegistry::new();
    reg.register(
        &[
            "plugins.regex_filter.search_replace.SearchReplacePlugin",
            "cpex_retry_with_backoff.RetryWithBackoffPlugin",
        ],
        |c| Ok(Arc::new(Nop(c)) as Arc<dyn Plugin>),
    );
    let m = PluginManager::new(c, &reg).unwrap();
    assert_eq!(
        m.plugin_names(),
        ["ReplaceBadWordsPlugin", "RetryWithBackoffPlugin"]
    );
    assert_eq!(m.timeout(), Duration::from_secs(120));
}

#[test]
fn templates_render_the_jinja_forms_users_write() {
    let env: HashMap<&str, &str> = [
        ("HOST", "plugins.internal"),
        ("PORT", "8443"),
        ("AMP", "a&b<c>"),
    ]
    .into();
    let text = r#"# {{ env.NOT_SET_BUT_IN_A_COMMENT }}
plugin_settings: {}
plugins:
  - name: "{{ env.HOST }}"
    kind: "{{env.PORT}}-{{ env['AMP'] }}"
    description: "{{ env.get('MISSING', 'dflt') }}/{{ env.MISSING | default('x y') }}"
    namespace: {{ env.HOST|default("no") }}
    author: "{% raw %}{{ env.KEEP }}{% endraw %}{# a comment #}"
    version: "{{ event }}"
"#;
    let c = Config::load_str(text, "t.yaml", &env).unwrap();
    let p = &c.plugins[0];
    assert_eq!(p.name, "plugins.internal");
    assert_eq!(p.kind, "8443-a&b<c>", "no HTML escaping");
    assert_eq!(p.description.as_deref(), Some("dflt/x y"));
    assert_eq!(p.namespace.as_deref(), Some("plugins.internal"));
    assert_eq!(p.author.as_deref(), Some("{{ env.KEEP }}"));
    assert_eq!(p.version.as_deref(), Some("{{ event }}"));
}

#[test]
fn an_unset_template_variable_names_file_line_and_variable() {
    let e = Config::load_str(
        "plugin_settings: {}\nplugins:\n  - name: \"{{ env.PLUGIN_NAME }}\"\n",
        "dir/p.yaml",
        &EmptyEnv,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::UnsetVariable { variable, line: 3, .. } if variable == "PLUGIN_NAME"),
        "{e:?}"
    );
    let m = e.to_string();
    assert!(
        m.contains("dir/p.yaml") && m.contains("PLUGIN_NAME") && m.contains("default("),
        "{m}"
    );
    let e = Config::load_str("a: {{ env.A", "dir/p.yaml", &EmptyEnv)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dir/p.yaml:1") && e.contains("not closed"),
        "{e}"
    );
    let e = Config::load_str("a: {% if x %}b{% endif %}", "dir/p.yaml", &EmptyEnv)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unsupported template statement"), "{e}");
}

#[test]
fn load_errors_name_file_plugin_and_key() {
    let e = err("plugins: [{name: P, kind: k, hooks: [tool_pre_invok]}]");
    assert_names(&e, "P", "hooks[0]"); // the item, not just the list
    for h in HookType::ALL {
        assert!(e.contains(h.as_str()), "lists the 12 hooks: {e}");
    }
    let e = err("plugins: [{name: P, kind: k, mode: Enforce}]");
    assert_names(&e, "P", "mode");
    assert!(e.contains("enforce_ignore_error"), "{e}");
    let e = err("plugins: [{name: P, kind: k, priority: high}]");
    assert_names(&e, "P", "priority");
    let e = err("plugins: [{name: P, kind: k}, {name: P, kind: k2}]");
    assert_names(&e, "P", "name");
    assert!(e.contains("duplicate"), "{e}");
    let e = err("plugins: [{name: P}]");
    assert_names(&e, "P", "kind");
    let e = err("plugins: [{kind: k}]");
    assert!(e.contains("plugins[0].name"), "{e}");
    let e = err("plugins: [{name: P, kind: k, conditions: [{tools: weather}]}]");
    assert_names(&e, "P", "conditions[0].tools");
    let e = err("plugin_settings: {plugin_timeout: -5}");
    assert!(
        e.contains("conf/plugins.yaml")
            && e.contains("`plugin_settings.plugin_timeout`")
            && e.contains("-5"),
        "{e}"
    );
    let e = err("plugin_settings: {fail_on_plugin_error: maybe}");
    assert!(e.contains("`plugin_settings.fail_on_plugin_error`"), "{e}");
    let e = err("server_settings: {tls: {ssl_cert_reqs: 3}}");
    assert!(e.contains("`server_settings.tls.ssl_cert_reqs`"), "{e}");
    let e = err("server_settings: {tls: {ssl_cert_reqs: CERT_REQUIRED}}");
    assert!(e.contains("`server_settings.tls.ssl_cert_reqs`"), "{e}");
    let e = err("plugins: [unclosed");
    assert!(
        e.contains("conf/plugins.yaml") && e.contains("invalid YAML"),
        "{e}"
    );
    let e = err("plugins: {name: P}");
    assert!(e.contains("`plugins`") && e.contains("list"), "{e}");
}

#[test]
fn external_entry_rules() {
    let e = err("plugins: [{name: X, kind: external}]");
    assert_names(&e, "X", "mcp");
    // A gRPC entry is a valid model (the client says whether it can use it); two transports
    // are not.
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://h/mcp'}, grpc: {target: 'h:1'}}]");
    assert_names(&e, "X", "mcp");
    assert!(e.contains("grpc"), "{e}");
    let e = err("plugins: [{name: X, kind: external, config: {a: 1}, mcp: {proto: STREAMABLEHTTP, url: 'https://h/mcp'}}]");
    assert_names(&e, "X", "config");
    assert!(e.contains("can only be set on the plugin server"), "{e}");
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: STDIO}}]");
    assert_names(&e, "X", "mcp.script");
    let e =
        err("plugins: [{name: X, kind: external, mcp: {proto: STDIO, script: a.py, cmd: [x]}}]");
    assert_names(&e, "X", "mcp.script");
    let e =
        err("plugins: [{name: X, kind: external, mcp: {proto: STDIO, cmd: ['plugwire', ' ']}}]");
    assert_names(&e, "X", "mcp.cmd");
    let e = err(
        "plugins: [{name: X, kind: external, mcp: {proto: STDIO, cmd: [a], tls: {verify: true}}}]",
    );
    assert_names(&e, "X", "mcp.tls");
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: STREAMABLEHTTP}}]");
    assert_names(&e, "X", "mcp.url");
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'http://h/mcp', uds: /run/p.sock, tls: {ca_bundle: /ca.pem}}}]");
    assert_names(&e, "X", "mcp.tls");
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'http://h/mcp', uds: rel.sock}}]");
    assert_names(&e, "X", "mcp.uds");
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: HTTP, url: 'http://h/mcp'}}]");
    assert_names(&e, "X", "mcp.proto");
    let e = err(
        "plugins: [{name: X, kind: external, mcp: {proto: streamablehttp, url: 'http://h/mcp'}}]",
    );
    assert_names(&e, "X", "mcp.proto");
    let e = err("plugins: [{name: X, kind: external, mcp: {url: 'http://h/mcp'}}]");
    assert_names(&e, "X", "mcp.proto");
    let e = err("plugins: [{name: X, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'http://h/mcp', tls: {verify: sometimes}}}]");
    assert_names(&e, "X", "mcp.tls.verify");

    let ok = load(
        "plugins:\n  - name: X\n    kind: external\n    priority: 10\n    mcp:\n      proto: STREAMABLEHTTP\n      url: https://localhost:8000/mcp\n      tls: {ca_bundle: /ca.pem, check_hostname: false}\n  - name: S\n    kind: external\n    config: {}\n    mcp: {proto: STDIO, cmd: [plugwire, serve, --stdio], env: {A: b}, cwd: /tmp}\n",
    )
    .unwrap();
    let x = &ok.plugins[0];
    assert!(x.is_external() && x.is_set("priority") && !x.is_set("hooks") && !x.is_set("mode"));
    let tls = x.mcp.as_ref().unwrap().tls.as_ref().unwrap();
    assert_eq!(
        (tls.own.verify, tls.own.check_hostname),
        (None, Some(false)),
        "unset stays None for env layering"
    );
    assert_eq!(
        ok.plugins[1].mcp.as_ref().unwrap().proto,
        TransportType::Stdio
    );
}

#[test]
fn server_settings_are_parsed_not_defaulted() {
    let c = load("server_settings:\n  host: 0.0.0.0\n  port: 9000\n  tls:\n    certfile: /c.pem\n    ssl_cert_reqs: 2\nplugin_settings: {}\n").unwrap();
    let s = c.server_settings.unwrap();
    assert_eq!(
        (s.host.as_deref(), s.port, s.uds.as_deref()),
        (Some("0.0.0.0"), Some(9000), None)
    );
    let t = s.tls.unwrap();
    assert_eq!(
        (
            t.files.certfile.as_deref(),
            t.files.keyfile.as_deref(),
            t.own.ssl_cert_reqs
        ),
        (Some("/c.pem"), None, Some(2))
    );
}

#[test]
fn a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("absent.yaml");
    let e = Config::load(&p, &EmptyEnv).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { .. }));
    let m = e.to_string();
    assert!(
        m.contains("absent.yaml") && m.contains("PLUGINS_CONFIG_PATH") && m.contains("--config"),
        "{m}"
    );
}

#[test]
fn timeout_env_override_and_path_precedence() {
    let s = PluginSettings {
        plugin_timeout: 45,
        ..Default::default()
    };
    assert_eq!(
        s.effective_timeout(&EmptyEnv).unwrap(),
        Duration::from_secs(45)
    );
    assert_eq!(
        s.effective_timeout(&vars(&[(PLUGINS_PLUGIN_TIMEOUT, "2.5")]))
            .unwrap(),
        Duration::from_millis(2500)
    );
    assert_eq!(
        s.effective_timeout(&vars(&[(PLUGINS_PLUGIN_TIMEOUT, " ")]))
            .unwrap(),
        Duration::from_secs(45),
        "empty = unset"
    );
    for bad in ["-1", "0", "soon"] {
        let e = s
            .effective_timeout(&vars(&[(PLUGINS_PLUGIN_TIMEOUT, bad)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(PLUGINS_PLUGIN_TIMEOUT) && e.contains(bad), "{e}");
    }

    let env = vars(&[
        ("PLUGINS_CONFIG_PATH", "/srv/server.yaml"),
        ("PLUGINS_CONFIG_FILE", " /gw/gateway.yaml\n"),
    ]);
    assert_eq!(
        resolve_config_path(None, ConfigSide::Server, &env),
        Path::new("/srv/server.yaml")
    );
    assert_eq!(
        resolve_config_path(None, ConfigSide::Gateway, &env),
        Path::new("/gw/gateway.yaml")
    );
    assert_eq!(
        resolve_config_path(Some(Path::new("cli.yaml")), ConfigSide::Server, &env),
        Path::new("cli.yaml")
    );
    assert_eq!(
        resolve_config_path(None, ConfigSide::Server, &EmptyEnv),
        Path::new("./resources/plugins/config.yaml")
    );
    assert_eq!(
        resolve_config_path(None, ConfigSide::Gateway, &EmptyEnv),
        Path::new("plugins/config.yaml")
    );
}

#[test]
fn template_edge_cases() {
    let env = vars(&[("X", "x")]);
    // Single braces, YAML flow mappings and text after a template stay intact; lines are counted.
    let out = render_template("a: {b: 1}\nc: '{{ env.X }}{'\n", "f.yaml", &env).unwrap();
    assert_eq!(out, "a: {b: 1}\nc: 'x{'\n");
    let e = render_template("a: 1\n\nb: {{ env.get('NOPE') }}\n", "f.yaml", &env).unwrap_err();
    assert!(
        matches!(&e, ConfigError::UnsetVariable { line: 3, variable, .. } if variable == "NOPE"),
        "{e:?}"
    );
    let e = render_template("a: {{ env.X | upper }}", "f.yaml", &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("f.yaml:1") && e.contains("upper"), "{e}");
    // A value that is set but empty is used as is (Jinja semantics), not replaced by the default.
    let empty = vars(&[("X", "")]);
    assert_eq!(
        render_template("{{ env.X | default('d') }}", "f", &empty).unwrap(),
        ""
    );
    // Indented comment lines are not rendered.
    assert_eq!(
        render_template("  # {{ env.UNSET }}\n", "f", &env).unwrap(),
        "  # {{ env.UNSET }}\n"
    );
}

#[test]
fn quoted_templates_in_typed_fields_load_like_pydantic_lax_mode() {
    let env = vars(&[("PORT", "9443"), ("VERIFY", "false"), ("TIMEOUT", "12")]);
    let text = r#"
plugin_settings: {plugin_timeout: "{{ env.TIMEOUT }}", fail_on_plugin_error: "yes"}
server_settings: {port: "{{ env.PORT }}", tls: {ssl_cert_reqs: "2"}}
plugins:
  - name: X
    kind: external
    priority: "-3"
    mcp: {proto: STREAMABLEHTTP, url: "https://h/mcp", tls: {verify: "{{ env.VERIFY }}"}}
"#;
    let c = Config::load_str(text, "t.yaml", &env).unwrap();
    assert_eq!(c.plugin_settings.plugin_timeout, 12);
    assert!(c.plugin_settings.fail_on_plugin_error);
    let s = c.server_settings.unwrap();
    assert_eq!(
        (s.port, s.tls.unwrap().own.ssl_cert_reqs),
        (Some(9443), Some(2))
    );
    assert_eq!(c.plugins[0].priority, -3);
    assert_eq!(
        c.plugins[0]
            .mcp
            .as_ref()
            .unwrap()
            .tls
            .as_ref()
            .unwrap()
            .own
            .verify,
        Some(false)
    );
    let e = err("server_settings: {port: eighty}");
    assert!(
        e.contains("`server_settings.port`") && e.contains("eighty"),
        "{e}"
    );
}

#[test]
fn nested_defaults_as_upstream_writes_them() {
    let line = r#"redis_url: '{{ env.RATELIMITER_REDIS_URL | default(env.REDIS_URL | default("redis://redis:6379/0")) }}'"#;
    assert_eq!(
        render_template(line, "f", &EmptyEnv).unwrap(),
        "redis_url: 'redis://redis:6379/0'"
    );
    let env = vars(&[("REDIS_URL", "redis://r:1")]);
    assert_eq!(
        render_template(line, "f", &env).unwrap(),
        "redis_url: 'redis://r:1'"
    );
    let e = render_template("{{ env.A | default(env.B) }}", "f", &EmptyEnv).unwrap_err();
    assert!(matches!(e, ConfigError::UnsetVariable { .. }), "{e:?}");
    assert_eq!(
        render_template("{{ env.get('A', env.get('B', 3)) }}", "f", &EmptyEnv).unwrap(),
        "3"
    );
    // Expressions that do not start with `env` are not ours to render.
    assert_eq!(
        render_template("{{ 'x' }} {{ x.y }}", "f", &EmptyEnv).unwrap(),
        "{{ 'x' }} {{ x.y }}"
    );
}

#[test]
fn both_eras_vocabulary_and_new_fields() {
    // Every name of both eras loads; the wrong case does not.
    for m in MODE_NAMES {
        let c = load(&format!("plugins: [{{name: P, kind: k, mode: {m}}}]")).unwrap();
        assert_eq!(c.plugins[0].mode.as_str(), *m);
    }
    for (yaml, key, listed) in [
        (
            "plugins: [{name: P, kind: k, mode: Enforce}]",
            "mode",
            "fire_and_forget",
        ),
        (
            "plugins: [{name: P, kind: k, mode: strict}]",
            "mode",
            "enforce_ignore_error",
        ),
        (
            "plugins: [{name: P, kind: k, on_error: retry}]",
            "on_error",
            "disable",
        ),
        (
            "plugins: [{name: P, kind: k, capabilities: [read_x]}]",
            "capabilities",
            "write_headers",
        ),
        (
            "plugins: [{name: P, kind: k, max_content_size: 0}]",
            "max_content_size",
            "positive",
        ),
        (
            "plugins: [{name: P, kind: external, grpc: {target: nohost}}]",
            "grpc.target",
            "host:port",
        ),
        (
            "plugins: [{name: P, kind: external, grpc: {uds: /s.sock, tls: {certfile: /c}}}]",
            "grpc.tls",
            "uds",
        ),
        (
            "plugins: [{name: P, kind: external, unix_socket: {path: rel.sock}}]",
            "unix_socket.path",
            "absolute",
        ),
    ] {
        let e = err(yaml);
        assert_names(&e, "P", key);
        assert!(e.contains(listed), "{e}");
    }
    let e = err("grpc_server_settings: {uds: /s.sock, tls: {certfile: /c, keyfile: /k}}");
    assert!(e.contains("`grpc_server_settings.tls`"), "{e}");
    let e = err("plugin_settings: {compat: '2.0'}");
    assert!(
        e.contains("`plugin_settings.compat`") && e.contains("1.0"),
        "{e}"
    );

    let c = load("plugins:\n  - {name: P, kind: k, mode: transform, on_error: disable, max_content_size: 5, capabilities: [write_headers, read_agent]}\n  - {name: Q, kind: k, capabilities: read_agent}\n  - {name: G, kind: external, grpc: {target: 'h:1'}}\n  - {name: U, kind: external, unix_socket: {path: /run/p.sock}}\n").unwrap();
    let v = c.plugins[0].to_json();
    assert_eq!(v["on_error"], "disable");
    assert_eq!(v["max_content_size"], 5);
    assert_eq!(v["capabilities"], json!(["read_agent", "write_headers"]));
    assert!(
        c.plugins[1].capabilities.is_empty(),
        "a non-list reads as empty"
    );
    assert_eq!(
        c.plugins[2].to_json()["grpc"],
        json!({"target": "h:1", "uds": null, "tls": null})
    );
    assert_eq!(
        c.plugins[3].to_json()["unix_socket"],
        json!({"path": "/run/p.sock", "reconnect_attempts": 3, "reconnect_delay": 0.1, "timeout": 30.0})
    );
    let back = PluginConfig::from_json(v.clone()).unwrap();
    assert_eq!(back.to_json(), v, "round trip");
}

#[test]
fn unix_socket_paths_longer_than_the_kernel_accepts_are_refused_at_load() {
    // 107 bytes is the most `sun_path` holds (108 with the NUL); 108 fails to bind or connect.
    let at_most = format!("/{}", "s".repeat(MAX_UNIX_SOCKET_PATH - 1));
    let too_long = format!("/{}", "s".repeat(MAX_UNIX_SOCKET_PATH));
    for (section, key) in [
        ("grpc: {uds: PATH}", "grpc.uds"),
        ("unix_socket: {path: PATH}", "unix_socket.path"),
        (
            "mcp: {proto: STREAMABLEHTTP, url: 'http://localhost/mcp', uds: PATH}",
            "mcp.uds",
        ),
    ] {
        let entry = |path: &str| {
            let section = section.replace("PATH", path);
            format!("plugins: [{{name: P, kind: external, {section}}}]")
        };
        load(&entry(&at_most)).unwrap();
        let e = err(&entry(&too_long));
        assert_names(&e, "P", key);
        assert!(
            e.contains("108 bytes long") && e.contains("at most 107"),
            "{e}"
        );
    }
    let e = err(&format!("grpc_server_settings: {{uds: {too_long}}}"));
    assert!(
        e.contains("`grpc_server_settings.uds`") && e.contains("at most 107"),
        "{e}"
    );
}

#[test]
fn wire_mode_is_accepted_by_both_eras_where_a_1_0_name_means_the_same() {
    let c = load("plugins:\n  - {name: A, kind: k, mode: sequential}\n  - {name: B, kind: k, mode: sequential, on_error: ignore}\n  - {name: C, kind: k, mode: transform, on_error: ignore}\n  - {name: D, kind: k, mode: transform}\n  - {name: E, kind: k, mode: permissive}\n  - {name: F, kind: k, mode: audit}\n  - {name: G, kind: k, mode: sequential, on_error: disable}\n  - {name: H, kind: k, mode: enforce_ignore_error}\n").unwrap();
    let got: Vec<(String, String)> = c
        .plugins
        .iter()
        .map(|p| {
            let v = p.to_wire_json();
            (
                v["mode"].as_str().unwrap().to_owned(),
                v["on_error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("enforce", "fail"),
        ("enforce_ignore_error", "ignore"),
        ("permissive", "ignore"),
        ("transform", "fail"),
        ("permissive", "fail"),
        ("audit", "fail"),
        ("sequential", "disable"),
        ("enforce_ignore_error", "ignore"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn runtime_settings_come_from_env_field_by_field() {
    let yaml = "plugin_settings: {fail_on_plugin_error: false, execution_pool: 4, compat: '1.0'}\n";
    let c = load(yaml).unwrap();
    assert_eq!(c.plugin_settings.execution_pool(), Some(4));
    assert_eq!(c.plugin_settings.compat(), Compat::V1_0);
    let env = vars(&[
        (PLUGINS_FAIL_ON_PLUGIN_ERROR, " true "),
        (PLUGINS_EXECUTION_POOL, ""), // empty = unset
    ]);
    let c = Config::load_str(yaml, "conf/plugins.yaml", &env).unwrap();
    assert!(c.plugin_settings.fail_on_plugin_error);
    assert_eq!(c.plugin_settings.execution_pool(), Some(4));
    assert_eq!(c.plugin_settings.compat(), Compat::V1_0);
    assert_eq!(load("").unwrap().plugin_settings.execution_pool(), Some(10));
    for (var, bad) in [
        (PLUGINS_COMPAT, "1.2"),
        (PLUGINS_EXECUTION_POOL, "-1"),
        (PLUGINS_FAIL_ON_PLUGIN_ERROR, "maybe"),
    ] {
        let env = vars(&[(var, bad)]);
        let e = Config::load_str("", "x.yaml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains(var) && e.contains(bad), "{e}");
    }
}
