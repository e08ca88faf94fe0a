//! The step protocol with client.py, against a stand-in client that records what it was told:
//! a step's warm-up happens only when the harness asks for it, steps come in plan order, and a
//! session dropped mid-plan stops its client.

use std::path::Path;

use super::*;

/// Speaks client.py's protocol with fixed timings; writes every line it reads to `received.txt`.
const STAND_IN: &str = r#"
import json, sys
spec = json.load(open(sys.argv[1]))
if spec.get("die_at_start"):
    sys.stderr.write("no PluginManager today\n")
    sys.exit(3)
log = open("received.txt", "w")
def emit(o):
    print(json.dumps(o), flush=True)
def read(c):
    line = sys.stdin.readline()
    if line:
        log.write(f"{line.strip()} {c}\n")
        log.flush()
    return line
emit({"event": "started"})
for step in spec["plan"]:
    c = step["concurrency"]
    if not read(c):
        break
    emit({"event": "ready"})
    if not read(c):
        break
    emit({"event": "result", "elapsed_s": 0.5, "errors": 1, "first_error": "boom",
          "p50_s": 0.001, "p99_s": 0.002, "connections": 2})
log.write("exit\n")
"#;

/// A temporary directory with the stand-in as `scripts/client.py`; removed when dropped.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("scratch dir");
        std::fs::create_dir_all(dir.path().join("scripts")).expect("scripts dir");
        std::fs::write(dir.path().join("scripts/client.py"), STAND_IN).expect("stand-in client");
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn env(&self) -> PythonEnv {
        PythonEnv {
            python: "python3".into(),
            scripts: self.path().join("scripts"),
            runtime: self.path().join("unused"),
            plugins: self.path().join("unused"),
        }
    }

    fn start(&self, plan: &[Step]) -> Result<Session> {
        let yaml = self.path().join("gateway.yaml");
        let log = self.path().join("client.log");
        Session::start(
            &self.env(),
            self.path(),
            &yaml,
            plan,
            std::process::id(),
            1,
            &log,
        )
    }

    fn received(&self) -> String {
        std::fs::read_to_string(self.path().join("received.txt")).unwrap_or_default()
    }
}

fn plan() -> Vec<Step> {
    [1, 4]
        .map(|concurrency| Step {
            concurrency,
            calls: 10,
        })
        .to_vec()
}

#[test]
fn steps_run_in_plan_order_each_warmed_up_when_asked() {
    let scratch = Scratch::new();
    let mut session = scratch.start(&plan()).expect("started");
    assert_eq!(
        scratch.received(),
        "",
        "no warm-up before the first step is due"
    );
    let (step, sample) = session.step().expect("a first step").expect("its sample");
    assert_eq!((step.concurrency, step.calls), (1, 10));
    // 10 calls, 1 failed, in 0.5 s: 18 calls/s that answered.
    assert_eq!(sample.calls_per_sec, 18.0);
    assert_eq!(
        (sample.errors, sample.first_error.as_deref()),
        (1, Some("boom"))
    );
    assert_eq!(sample.connections, Some(2));
    assert_eq!(
        scratch.received(),
        "warm 1\ngo 1\n",
        "the second step waits"
    );
    let (step, _) = session.step().expect("a second step").expect("its sample");
    assert_eq!(step.concurrency, 4);
    assert!(session.step().is_none(), "the plan has two steps");
    drop(session);
    assert_eq!(scratch.received(), "warm 1\ngo 1\nwarm 4\ngo 4\nexit\n");
}

#[test]
fn a_session_dropped_mid_plan_stops_its_client() {
    let scratch = Scratch::new();
    let mut session = scratch.start(&plan()).expect("started");
    session.step().expect("a first step").expect("its sample");
    drop(session);
    // Killed, not told to finish: it neither warmed up for the second step nor reached its end.
    assert_eq!(scratch.received(), "warm 1\ngo 1\n");
}

#[test]
fn a_client_that_exits_at_start_is_an_error_with_its_log() {
    let scratch = Scratch::new();
    let log = scratch.path().join("client.log");
    let spec = write_spec(
        scratch.path(),
        &scratch.path().join("gateway.yaml"),
        &plan(),
        2,
    )
    .expect("spec");
    let text = std::fs::read_to_string(&spec).expect("spec text");
    let mut v: Value = serde_json::from_str(&text).expect("spec json");
    v["die_at_start"] = Value::Bool(true);
    std::fs::write(&spec, v.to_string()).expect("spec rewritten");
    let err = Session::start_from_spec(&scratch.env(), scratch.path(), &spec, &plan(), 0, &log)
        .err()
        .expect("a client that exits is an error");
    let text = err.to_string();
    assert!(
        text.contains("exited while we waited for \"started\""),
        "{text}"
    );
    assert!(
        text.contains("no PluginManager today"),
        "the log's tail: {text}"
    );
}
