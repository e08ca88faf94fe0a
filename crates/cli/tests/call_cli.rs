//! `plugwire call` and `plugwire health` as a user runs them: the real binary against a
//! plugwire server on 127.0.0.1:0 (in this process) or `plugwire serve --stdio` as a child.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;

use common::*;

fn gateway_yaml(dir: &Path, port: u16, names: &[&str]) -> std::path::PathBuf {
    let mut text = String::from("plugins:\n");
    for name in names {
        text.push_str(&format!(
            "  - name: {name}\n    kind: external\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:{port}/mcp\n"
        ));
    }
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary off the async runtime's threads; a clean env for the variables we read.
async fn plugwire(args: Vec<String>, envs: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .env_remove("PLUGINS_CONFIG_FILE")
            .env("RUST_LOG", "warn");
        for var in [
            "PLUGINS_CLIENT_MTLS_CERTFILE",
            "PLUGINS_CLIENT_MTLS_KEYFILE",
            "PLUGINS_CLIENT_MTLS_CA_BUNDLE",
            "PLUGINS_CLIENT_MTLS_VERIFY",
            "PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME",
            "PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// `plugwire call --config CFG --hook HOOK --payload PAYLOAD EXTRA...` with `envs`.
async fn call(
    cfg: &str,
    hook: &str,
    payload: &str,
    extra: &[&str],
    envs: Vec<(String, String)>,
) -> Output {
    let mut list = vec![
        "call",
        "--config",
        cfg,
        "--hook",
        hook,
        "--payload",
        payload,
    ];
    list.extend_from_slice(extra);
    plugwire(args(&list), envs).await
}

/// The process exited with `code`; its stderr is the failure message otherwise.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// 40 tool calls at concurrency 4 through the one plugin of `cfg`: all succeed, modified,
/// over at most 4 connections.
async fn assert_40_calls_reuse_4_connections(cfg: &str) {
    let out = call(
        cfg,
        "tool_pre_invoke",
        r#"{"name":"search","args":{"q":"crap"}}"#,
        &["--repeat", "40", "--concurrency", "4"],
        vec![],
    )
    .await;
    assert_exit(&out, 0);
    let v = stdout_json(&out);
    assert_eq!(v["stats"]["calls"], 40);
    assert_eq!(v["failures"], 0);
    assert_eq!(v["blocked"], 0);
    let opened = v["stats"]["connections_opened"].as_u64().unwrap();
    assert!(
        (1..=4).contains(&opened),
        "40 calls at concurrency 4 opened {opened} connections"
    );
    assert_eq!(v["result"]["modified_payload"]["args"]["q"], "crud");
}

#[tokio::test]
async fn call_runs_the_chain_over_http_and_reports_reuse() {
    let server = InProcessServer::start(REPLACE_AND_DENY_YAML).await;
    let dir = tempfile::tempdir().unwrap();
    let config = gateway_yaml(
        dir.path(),
        server.port,
        &["ReplaceBadWordsPlugin", "DenyListPlugin"],
    );
    let cfg = config.display().to_string();

    // A prompt modified by SearchReplace (exit 0).
    let out = call(
        &cfg,
        "prompt_pre_fetch",
        r#"{"prompt_id":"p","args":{"text":"so crap"}}"#,
        &[],
        vec![],
    )
    .await;
    assert_exit(&out, 0);
    let v = stdout_json(&out);
    assert_eq!(v["result"]["modified_payload"]["args"]["text"], "so crud");

    // A prompt blocked by DenyList (exit 3), the violating plugin named.
    let out = call(
        &cfg,
        "prompt_pre_fetch",
        r#"{"prompt_id":"p","args":{"text":"innovative"}}"#,
        &[],
        vec![],
    )
    .await;
    assert_exit(&out, 3);
    let v = stdout_json(&out);
    assert_eq!(v["result"]["continue_processing"], false);
    assert_eq!(v["violation_plugin"], "DenyListPlugin");
    // Repeated, every call is counted as blocked, none as failed.
    let out = call(
        &cfg,
        "prompt_pre_fetch",
        r#"{"prompt_id":"p","args":{"text":"innovative"}}"#,
        &["--repeat", "6", "--concurrency", "2"],
        vec![],
    )
    .await;
    assert_exit(&out, 3);
    let v = stdout_json(&out);
    assert_eq!(
        (v["blocked"].as_u64(), v["failures"].as_u64()),
        (Some(6), Some(0))
    );

    // 40 tool calls at concurrency 4 through one plugin: at most 4 connections.
    let one = dir.path().join("one");
    std::fs::create_dir(&one).unwrap();
    let cfg1 = gateway_yaml(&one, server.port, &["ReplaceBadWordsPlugin"])
        .display()
        .to_string();
    assert_40_calls_reuse_4_connections(&cfg1).await;

    // PLUGINS_CONFIG_FILE is the default config path.
    let out = plugwire(
        args(&[
            "call",
            "--hook",
            "tool_pre_invoke",
            "--payload",
            r#"{"name":"t","args":{"q":"crap"}}"#,
        ]),
        vec![("PLUGINS_CONFIG_FILE".into(), cfg1.clone())],
    )
    .await;
    assert_exit(&out, 0);
    assert_eq!(
        stdout_json(&out)["result"]["modified_payload"]["args"]["q"],
        "crud"
    );

    // health on the plain port.
    let out = plugwire(
        args(&["health", &format!("http://127.0.0.1:{}", server.port)]),
        vec![],
    )
    .await;
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("healthy"));
    server.stop().await;
}

#[tokio::test]
async fn call_over_stdio_to_plugwire_serve() {
    let dir = tempfile::tempdir().unwrap();
    let server_yaml = dir.path().join("server.yaml");
    std::fs::write(&server_yaml, REPLACE_AND_DENY_YAML).unwrap();
    let gateway = dir.path().join("gateway.yaml");
    std::fs::write(
        &gateway,
        format!(
            "plugins:\n  - name: ReplaceBadWordsPlugin\n    kind: external\n    mcp:\n      proto: STDIO\n      cmd: [\"{BIN}\", \"serve\", \"--stdio\", \"--config\", \"{}\"]\n",
            server_yaml.display()
        ),
    )
    .unwrap();
    let out = call(
        &gateway.display().to_string(),
        "tool_pre_invoke",
        r#"{"name":"search","args":{"q":"crap"}}"#,
        &["--repeat", "5"],
        vec![],
    )
    .await;
    assert_exit(&out, 0);
    let v = stdout_json(&out);
    assert_eq!(v["result"]["modified_payload"]["args"]["q"], "crud");
    assert_eq!(
        v["stats"]["connections_opened"], 1,
        "one child process for all calls"
    );
}

#[tokio::test]
async fn bad_input_gives_exit_2_or_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    // Bad payload JSON names the flag.
    let cfg = gateway_yaml(dir.path(), 1, &["ReplaceBadWordsPlugin"])
        .display()
        .to_string();
    let out = call(&cfg, "tool_pre_invoke", "{nope", &[], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--payload"));
    // Unknown hook.
    let out = call(&cfg, "tool_pre_nope", "{}", &[], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tool_pre_nope"));
    // Unreachable plugin server: the chain is not run partially; plugin and URL are named.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = gateway_yaml(dir.path(), port, &["ReplaceBadWordsPlugin"])
        .display()
        .to_string();
    let out = call(
        &cfg,
        "tool_pre_invoke",
        r#"{"name":"t","args":{}}"#,
        &[],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ReplaceBadWordsPlugin") && err.contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    // health on a closed port: exit 1 and the URL named.
    let out = plugwire(
        args(&[
            "health",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "2",
        ]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{port}")));
}
