//! The process-wide decision: `env::init` with a map environment turns both global registries
//! off, and the first decision stands. Its own test binary (one process), because the decision
//! is process-wide.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use plugwire_metrics::{env, ClientMetrics, ServerMetrics, ENABLE_METRICS};

#[test]
fn init_decides_once_for_both_global_registries() {
    let off: HashMap<&str, &str> = HashMap::from([(ENABLE_METRICS, "false")]);
    assert!(!env::init(&off), "ENABLE_METRICS=false turns metrics off");
    let on: HashMap<&str, &str> = HashMap::from([(ENABLE_METRICS, "true")]);
    assert!(!env::init(&on), "the first decision stands");
    assert!(!ClientMetrics::global().enabled());
    assert!(!ServerMetrics::global().enabled());
}
