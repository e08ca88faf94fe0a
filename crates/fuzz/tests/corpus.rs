//! Replays every committed corpus input (seeds and past crashes) through its target: a fixed
//! crash stays fixed.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use plugwire_fuzz::{fuzz, Targets, TARGETS};

#[test]
fn every_corpus_input_runs_without_a_panic() {
    let targets = Targets::new().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for name in TARGETS {
        let inputs = fuzz::corpus(&root.join(name));
        assert!(!inputs.is_empty(), "no corpus for target {name}");
        for (path, data) in inputs {
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| targets.run(name, &data)));
            assert!(r.is_ok(), "{name}: {} panics", path.display());
        }
    }
}
