//! `plugwire health --config FILE`: which of a gateway config's plugins are running.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::process::Command;

use serde_json::Value;

fn health(config: &std::path::Path) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_plugwire"))
        .args(["health", "--timeout", "5", "--config"])
        .arg(config)
        .env_remove("PLUGINS_FAIL_ON_PLUGIN_ERROR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

#[test]
fn a_plugin_left_out_at_start_up_is_reported_not_loaded_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "plugins:\n  - name: Local\n    kind: search_replace\n    hooks: [tool_pre_invoke]\n    config:\n      words: [{{search: a, replace: b}}]\n  - name: Remote\n    kind: external\n    mcp: {{proto: STREAMABLEHTTP, url: \"http://127.0.0.1:{port}/mcp\"}}\n  - name: Off\n    kind: anything.Unknown\n    mode: disabled\n"
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, report, stderr) = health(&path);
    assert_eq!(code, 1, "{report}\n{stderr}");
    let plugins = report["plugins"].as_array().unwrap();
    assert_eq!(
        plugins.len(),
        2,
        "disabled entries are not listed: {report}"
    );
    assert_eq!(plugins[0]["name"], "Local");
    assert_eq!(plugins[0]["loaded"], true);
    assert_eq!(plugins[1]["name"], "Remote");
    assert_eq!(plugins[1]["loaded"], false);
    let reason = plugins[1]["error"].as_str().unwrap();
    assert!(reason.contains(&port.to_string()), "{reason}");
    assert!(stderr.contains("not every plugin"), "{stderr}");
}

#[test]
fn all_loaded_exits_0_and_a_broken_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(
        &path,
        "plugins:\n  - name: Local\n    kind: deny_list\n    hooks: [tool_pre_invoke]\n    config: {words: [x]}\n",
    )
    .unwrap();
    let (code, report, stderr) = health(&path);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["plugins"][0]["loaded"], true);

    std::fs::write(
        &path,
        "plugins:\n  - name: X\n    kind: deny_list\n    mode: strict\n",
    )
    .unwrap();
    let (code, _report, stderr) = health(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("mode"), "{stderr}");
}
