//! `plugwire call --metrics`, `-v` and `LOG_FORMAT=json` as a user runs them: the real binary
//! against a plugwire server on 127.0.0.1:0 in this process.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;

use common::{InProcessServer, BIN, REPLACE_AND_DENY_YAML};

/// Two remote plugins and one disabled entry (which the manager logs at debug).
fn gateway_yaml(dir: &Path, port: u16) -> String {
    let mut text = String::from("plugins:\n");
    for name in ["ReplaceBadWordsPlugin", "DenyListPlugin", "Sleeping"] {
        let mode = if name == "Sleeping" {
            "disabled"
        } else {
            "enforce"
        };
        text.push_str(&format!(
            "  - name: {name}\n    kind: external\n    mode: {mode}\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:{port}/mcp\n"
        ));
    }
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn plugwire(
    args: Vec<&'static str>,
    config: String,
    envs: Vec<(&'static str, &'static str)>,
) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .args(["--config", &config])
            .env_remove("RUST_LOG")
            .env_remove("LOG_LEVEL")
            .env_remove("LOG_FORMAT")
            .env_remove("ENABLE_METRICS")
            .env_remove("PLUGINS_CONFIG_FILE");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// `BEFORE... --hook prompt_pre_fetch --payload PAYLOAD AFTER...` (BEFORE holds `call`, so a
/// global flag can stand on either side of it).
fn prompt_pre_fetch(
    before: &[&'static str],
    payload: &'static str,
    after: &[&'static str],
) -> Vec<&'static str> {
    let mut args = before.to_vec();
    args.extend(["--hook", "prompt_pre_fetch", "--payload", payload]);
    args.extend_from_slice(after);
    args
}

const CRAP: &str = r#"{"prompt_id":"p","args":{"text":"so crap"}}"#;
const INNOVATIVE: &str = r#"{"prompt_id":"p","args":{"text":"innovative"}}"#;

#[tokio::test]
async fn call_metrics_prints_the_client_exposition_after_the_calls() {
    let server = InProcessServer::start(REPLACE_AND_DENY_YAML).await;
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_yaml(dir.path(), port);
    let out = plugwire(
        prompt_pre_fetch(&["call"], CRAP, &["--repeat", "3", "--metrics"]),
        cfg,
        vec![],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // stdout stays one JSON document.
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = |l: &str| stderr.lines().any(|x| x == l);
    assert!(
        line(
            r#"plugwire_client_calls_total{plugin="ReplaceBadWordsPlugin",hook="prompt_pre_fetch",outcome="modified"} 3"#
        ),
        "{stderr}"
    );
    assert!(
        line(
            r#"plugwire_client_call_duration_seconds_count{plugin="DenyListPlugin",hook="prompt_pre_fetch"} 3"#
        ),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("# EOF"), "{stderr}");
    // The exported connection counts add up to the call's own statistics.
    let opened: u64 = stderr
        .lines()
        .filter(|l| l.starts_with("plugwire_client_connections_opened_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        opened,
        v["stats"]["connections_opened"].as_u64().unwrap(),
        "{stderr}"
    );
    assert!(
        opened >= 2,
        "one connection per remote plugin at least: {stderr}"
    );

    // Off: a note instead of the exposition.
    let cfg = gateway_yaml(dir.path(), port);
    let out = plugwire(
        prompt_pre_fetch(&["call"], CRAP, &["--metrics"]),
        cfg,
        vec![("ENABLE_METRICS", "false")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("metrics are disabled"), "{stderr}");
    assert!(!stderr.contains("plugwire_client_calls_total"), "{stderr}");
    server.stop().await;
}

#[tokio::test]
async fn verbose_and_json_logs() {
    let server = InProcessServer::start(REPLACE_AND_DENY_YAML).await;
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_yaml(dir.path(), port);

    // -v (global, before or after the subcommand) with LOG_FORMAT=json: every line one object.
    let out = plugwire(
        prompt_pre_fetch(&["call", "-v"], INNOVATIVE, &[]),
        cfg.clone(),
        vec![("LOG_FORMAT", "json")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let events: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        for key in ["timestamp", "level", "message"] {
            assert!(e.get(key).is_some(), "no {key}: {e}");
        }
    }
    let find = |level: &str, message: &str| {
        events
            .iter()
            .find(|e| e["level"] == level && e["message"] == message)
            .unwrap_or_else(|| panic!("no {level} {message:?} in {stderr}"))
    };
    assert_eq!(
        find("DEBUG", "plugin disabled; not loaded")["plugin"],
        "Sleeping"
    );
    let blocked = find("WARN", "blocked by plugin");
    assert_eq!(blocked["plugin"], "DenyListPlugin");
    assert_eq!(blocked["hook"], "prompt_pre_fetch");

    // Without -v: info level, no debug line; text format.
    let out = plugwire(
        prompt_pre_fetch(&["-v", "call"], INNOVATIVE, &[]),
        cfg.clone(),
        vec![],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stderr.contains("plugin disabled; not loaded"), "{stderr}");
    assert!(serde_json::from_str::<Value>(stderr.lines().next().unwrap()).is_err());
    let out = plugwire(
        prompt_pre_fetch(&["call"], INNOVATIVE, &[]),
        cfg,
        vec![("LOG_FORMAT", "xml")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("plugin disabled"), "{stderr}");
    assert!(stderr.contains("blocked by plugin"), "{stderr}");
    assert!(
        stderr.contains(r#"LOG_FORMAT="xml" is not "text" or "json""#),
        "{stderr}"
    );
    server.stop().await;
}
