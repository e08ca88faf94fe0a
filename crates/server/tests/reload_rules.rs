//! What a live reload refuses or warns about: a change of `server_settings.limits` (applied only
//! at start-up) is named in the "needs a restart" WARN; a plugins YAML that is empty, or caught
//! half-written by `--watch-config`, never replaces the running config; and an allowed-hosts
//! entry that could never match a Host header stops start-up, naming where it came from.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::reload::search_replace_yaml;
use common::Logs;
use plugwire_framework::{Config, PluginRegistry};
use plugwire_server::reload::{ConfigReloader, SwappableBackend};
use plugwire_server::serve::ServeOptions;
use plugwire_server::{Backend, ManagerBackend};
use plugwire_tls::ReloadTrigger;
use tokio::sync::{mpsc, watch};

/// A plugins YAML in its own directory (the path makes this test's log lines its own).
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file(text: &str) -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.yaml");
    std::fs::write(&path, text).unwrap();
    File { _dir: dir, path }
}

/// The backend serving `path` and its reloader, wired as `plugwire serve` wires them for a
/// plain listener (no bind settings compared, no TLS).
async fn reloader(path: &Path) -> (Arc<SwappableBackend>, Arc<ConfigReloader>) {
    let env = plugwire_env::EmptyEnv;
    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);
    let registry = Arc::new(registry);
    let config = Config::load(path, &env).unwrap();
    // As `plugwire serve` does: the limits are part of what the listeners were started with.
    let bound = plugwire_server::reload::limits_view(&config, &env).unwrap();
    let manager = plugwire_server::build_manager(config, &registry, &env).unwrap();
    let manager = plugwire_server::initialize_manager(manager).await.unwrap();
    let swappable = Arc::new(SwappableBackend::new(ManagerBackend::new(manager)));
    let reloader = ConfigReloader::new(
        path.to_path_buf(),
        Arc::new(plugwire_env::EmptyEnv),
        registry,
        Arc::clone(&swappable),
        Box::new(|cfg| plugwire_server::reload::limits_view(cfg, &plugwire_env::EmptyEnv)),
        bound,
        Vec::new(),
    );
    (swappable, Arc::new(reloader))
}

/// The word the served SearchReplace config turns `crap` into (`None`: no such plugin).
fn served_word(b: &SwappableBackend) -> Option<String> {
    let cfg = b.plugin_config("ReplaceBadWordsPlugin")?;
    cfg["config"]["words"][0]["replace"]
        .as_str()
        .map(str::to_string)
}

/// This test's log lines (those naming its file) that contain `needle`.
fn lines_with(logs: &Logs, path: &Path, needle: &str) -> Vec<String> {
    let p = path.display().to_string();
    logs.text()
        .lines()
        .filter(|l| l.contains(&p) && l.contains(needle))
        .map(str::to_string)
        .collect()
}

const RESTART_WARN: &str = "apply only after a restart";

/// A reload that changes `server_settings.limits` applies the plugins and WARNs naming each
/// changed limit (and no other) as needing a restart; a reload that leaves them as started
/// WARNs nothing.
#[tokio::test]
async fn a_reload_that_changes_limits_names_each_changed_limit() {
    let logs = Logs::global();
    let f = file(&search_replace_yaml("one"));
    let (backend, r) = reloader(&f.path).await;

    std::fs::write(&f.path, search_replace_yaml("two")).unwrap();
    assert_eq!(r.reload_config(ReloadTrigger::Signal).await.unwrap(), 2);
    assert_eq!(served_word(&backend).as_deref(), Some("two"));
    assert!(
        lines_with(&logs, &f.path, RESTART_WARN).is_empty(),
        "limits as started: no WARN"
    );

    let limits = "server_settings:\n  limits:\n    max_connections: 1\n    drain_timeout: 2\n";
    std::fs::write(&f.path, format!("{limits}{}", search_replace_yaml("three"))).unwrap();
    assert_eq!(r.reload_config(ReloadTrigger::Signal).await.unwrap(), 3);
    assert_eq!(served_word(&backend).as_deref(), Some("three"));
    let warns = lines_with(&logs, &f.path, RESTART_WARN);
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(warns[0].contains("WARN"), "{}", warns[0]);
    for key in [
        "server_settings.limits.max_connections",
        "server_settings.limits.drain_timeout",
    ] {
        assert!(warns[0].contains(key), "{key} not named: {}", warns[0]);
    }
    assert!(
        !warns[0].contains("body_timeout") && !warns[0].contains("body_min_rate"),
        "an unchanged limit named: {}",
        warns[0]
    );
}

/// A plugins YAML that became empty, or whitespace only, fails the reload with an error naming
/// the file and the running plugins keep serving; the next whole file loads.
#[tokio::test]
async fn an_empty_file_never_replaces_the_running_config() {
    let logs = Logs::global();
    let f = file(&search_replace_yaml("one"));
    let (backend, r) = reloader(&f.path).await;
    for empty in ["", " \n\t\n"] {
        std::fs::write(&f.path, empty).unwrap();
        let err = r.reload_config(ReloadTrigger::Signal).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&f.path.display().to_string()) && msg.contains("empty"),
            "{msg}"
        );
        assert_eq!(r.generation(), 1);
        assert_eq!(served_word(&backend).as_deref(), Some("one"));
    }
    let failed = lines_with(&logs, &f.path, "result=\"failed\"");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|l| l.contains("ERROR")), "{failed:?}");

    std::fs::write(&f.path, search_replace_yaml("two")).unwrap();
    assert_eq!(r.reload_config(ReloadTrigger::Signal).await.unwrap(), 2);
    assert_eq!(served_word(&backend).as_deref(), Some("two"));
}

/// Polls `cond` every 20 ms for up to 10 s.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `--watch-config` and a writer that truncates the file, pauses, then writes: the file is
/// read once it is whole, so the new plugins load in one reload and no attempt ever sees the
/// empty file (no failed reload, the SearchReplace plugin served throughout).
#[tokio::test]
async fn watch_config_reads_a_truncated_then_written_file_once_whole() {
    let logs = Logs::global();
    let f = file(&search_replace_yaml("one"));
    let (backend, r) = reloader(&f.path).await;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (_hup, signals) = mpsc::channel(1);
    let task = tokio::spawn(Arc::clone(&r).run(signals, true, async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    }));

    // Whole writes first, until one is served: then the watch is known to be live (a write
    // before the task has started watching is not seen).
    tokio::task::yield_now().await;
    for attempt in 0.. {
        assert!(attempt < 20, "the watch never reloaded a whole write");
        std::fs::write(&f.path, search_replace_yaml(&format!("two{attempt}"))).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if r.generation() > 1 {
            break;
        }
    }
    eventually("the whole writes' reloads", || {
        served_word(&backend).is_some_and(|w| w.starts_with("two"))
    })
    .await;
    let before = r.generation();

    let watcher = {
        let b = Arc::clone(&backend);
        tokio::spawn(async move {
            // Whether the guardrail plugin was ever missing while the file was rewritten.
            let mut missing = false;
            for _ in 0..100 {
                missing |= served_word(&b).is_none();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            missing
        })
    };
    // As `: > file; sleep 0.2; cat new >> file`: the empty file is closed, and seen, first.
    // The pause outlasts the directory watch's own 150 ms delay (plugwire_tls::SETTLE), so
    // only the wait for a stable file keeps the empty one from being read.
    drop(std::fs::File::create(&f.path).unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(&f.path)
        .unwrap();
    w.write_all(search_replace_yaml("three").as_bytes())
        .unwrap();
    drop(w);
    eventually("the rewritten file's reload", || {
        served_word(&backend).as_deref() == Some("three")
    })
    .await;

    assert!(!watcher.await.unwrap(), "the plugins went away mid-write");
    assert_eq!(r.generation(), before + 1, "one reload per whole file");
    let failed = lines_with(&logs, &f.path, "result=\"failed\"");
    assert!(
        failed.is_empty(),
        "the half-written file was read: {failed:?}"
    );
    let _ = stop_tx.send(true);
    task.await.unwrap();
}

fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

/// An allowed-hosts entry that no Host header can match (a scheme, a wildcard name, a
/// non-numeric port, a path) stops start-up with an error naming the variable, or the flag
/// that gave it, and the entry; entries of the supported forms pass.
#[test]
fn allowed_hosts_that_can_never_match_are_refused_naming_their_source() {
    for bad in [
        "http://gw.example",
        "*",
        "*.example.com",
        "gw:abc",
        "gw/mcp",
    ] {
        let value = format!("ok.svc,{bad}");
        let vars = HashMap::from([("PLUGINS_SERVER_ALLOWED_HOSTS", value.as_str())]);
        let err = ServeOptions::resolve(&vars, None, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PLUGINS_SERVER_ALLOWED_HOSTS") && err.contains(&format!("{bad:?}")),
            "{bad}: {err}"
        );
        let err = ServeOptions::resolve(&env(&[]), None, &[bad.to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--allowed-host") && err.contains(&format!("{bad:?}")),
            "{bad}: {err}"
        );
    }
    let o = ServeOptions::resolve(
        &env(&[(
            "PLUGINS_SERVER_ALLOWED_HOSTS",
            "gw.example, gw:8443, gw:*, 10.0.0.1, [::1]:8000",
        )]),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(
        o.allowed_hosts,
        ["gw.example", "gw:8443", "gw:*", "10.0.0.1", "[::1]:8000"]
    );
}
