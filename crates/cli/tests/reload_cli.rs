//! `plugwire serve` reloads as an operator triggers it: `kill -HUP` on the real process (a
//! changed plugins YAML takes effect, a broken one is refused and the old config keeps
//! serving, with one structured log event each), and `--watch-config` (a saved file takes
//! effect without a signal). Calls run continuously over the Unix socket and none may fail.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

mod common;

use common::*;

fn config(replace: &str) -> String {
    format!(
        r#"
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: ["tool_pre_invoke"]
    config:
      words:
        - search: crap
          replace: {replace}
"#
    )
}

struct Served {
    child: KillOnDrop,
    sock: PathBuf,
    cfg: PathBuf,
    _dir: tempfile::TempDir,
}

fn serve(extra_args: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let cfg = dir.path().join("plugins.yaml");
    std::fs::write(&cfg, config("crud")).unwrap();
    let child = serve_cmd()
        .arg("--config")
        .arg(&cfg)
        .args(extra_args)
        .env("PLUGINS_SERVER_UDS", &sock)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop::new(child);
    wait_for_socket(&sock, &mut child);
    Served {
        child,
        sock,
        cfg,
        _dir: dir,
    }
}

/// One hook call: the word `crap` was replaced with.
fn call(sock: &Path) -> Result<String, String> {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"t","args":{"a":"crap"}},"context":{"global_context":{"request_id":"r1"}}}}}"#;
    let (status, body) = uds_request(sock, "POST", "/mcp", body).map_err(|e| e.to_string())?;
    if !status.contains("200") {
        return Err(format!("{status}: {body}"));
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let text = v["result"]["content"][0]["text"]
        .as_str()
        .ok_or(body.clone())?;
    let answer: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    answer["result"]["modified_payload"]["args"]["a"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no modified payload: {answer}"))
}

fn metric(sock: &Path, name: &str) -> Option<f64> {
    let (_, body) = uds_request(sock, "GET", "/metrics", "").ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Calls in a loop on another thread until stopped; every failure is kept.
struct Load {
    done: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

fn load(sock: &Path) -> Load {
    let (done, ok, failures) = (Arc::default(), Arc::default(), Arc::default());
    let (d, o, f): (Arc<AtomicBool>, Arc<AtomicU64>, Arc<Mutex<Vec<String>>>) =
        (Arc::clone(&done), Arc::clone(&ok), Arc::clone(&failures));
    let sock = sock.to_path_buf();
    let thread = std::thread::spawn(move || {
        while !d.load(Ordering::SeqCst) {
            match call(&sock) {
                Ok(_) => {
                    o.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => f.lock().unwrap().push(e),
            }
        }
    });
    Load {
        done,
        ok,
        failures,
        thread,
    }
}

impl Load {
    fn more_calls(&self, n: u64) {
        let target = self.ok.load(Ordering::SeqCst) + n;
        eventually("more calls", || self.ok.load(Ordering::SeqCst) >= target);
    }

    fn finish(self) {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        let f = self.failures.lock().unwrap();
        assert!(
            f.is_empty(),
            "{} failed calls: {:?}",
            f.len(),
            &f[..f.len().min(5)]
        );
    }
}

/// Stops the server and returns its log events (one JSON object per line).
fn stop(mut s: Served) -> Vec<Value> {
    let ok = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut err = String::new();
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}: {err}");
    err.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn reload_events<'a>(logs: &'a [Value], what: &str) -> Vec<&'a Value> {
    logs.iter().filter(|e| e["what"] == what).collect()
}

#[test]
fn sighup_reloads_the_plugins_config_and_keeps_it_on_a_broken_file() {
    let s = serve(&[]);
    assert_eq!(call(&s.sock).unwrap(), "crud");
    let load = load(&s.sock);
    load.more_calls(5);

    std::fs::write(&s.cfg, config("nice")).unwrap();
    signal(&s.child, "-HUP");
    eventually("the new config answers", || {
        call(&s.sock).unwrap() == "nice"
    });
    // The gauges are set once the swap is done, a moment after the new config first answers.
    eventually("the reload is recorded", || {
        metric(&s.sock, "plugwire_config_generation") == Some(2.0)
            && metric(&s.sock, "plugwire_config_last_reload_success") == Some(1.0)
    });
    load.more_calls(5);

    std::fs::write(
        &s.cfg,
        "plugins:\n  - name: Broken\n    kind: no.such.Kind\n",
    )
    .unwrap();
    signal(&s.child, "-HUP");
    eventually("the failed reload is recorded", || {
        metric(&s.sock, "plugwire_config_last_reload_success") == Some(0.0)
    });
    assert_eq!(metric(&s.sock, "plugwire_config_generation"), Some(2.0));
    load.more_calls(5);
    assert_eq!(
        call(&s.sock).unwrap(),
        "nice",
        "the old config keeps serving"
    );
    load.finish();

    let cfg = s.cfg.display().to_string();
    let logs = stop(s);
    let events = reload_events(&logs, "config");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["result"], "reloaded");
    assert_eq!(events[0]["trigger"], "SIGHUP");
    assert_eq!(events[0]["file"], cfg.as_str());
    assert_eq!(events[1]["result"], "failed");
    assert_eq!(events[1]["level"], "ERROR");
    assert_eq!(events[1]["file"], cfg.as_str());
    let error = events[1]["error"].as_str().unwrap();
    assert!(
        error.contains("no.such.Kind") && error.contains(&cfg),
        "{error}"
    );
}

#[test]
fn watch_config_reloads_a_saved_file_without_a_signal() {
    let s = serve(&["--watch-config"]);
    assert_eq!(call(&s.sock).unwrap(), "crud");
    let load = load(&s.sock);
    load.more_calls(5);
    // Saved the way editors and ConfigMap updates do it: a new file renamed over the old.
    let tmp = s.cfg.with_extension("tmp");
    std::fs::write(&tmp, config("nice")).unwrap();
    std::fs::rename(&tmp, &s.cfg).unwrap();
    eventually("the saved config answers", || {
        call(&s.sock).unwrap() == "nice"
    });
    load.more_calls(5);
    load.finish();
    let logs = stop(s);
    let events = reload_events(&logs, "config");
    assert!(!events.is_empty(), "{logs:?}");
    assert!(
        events
            .iter()
            .all(|e| e["trigger"] == "watch" && e["result"] == "reloaded"),
        "{events:?}"
    );
}
