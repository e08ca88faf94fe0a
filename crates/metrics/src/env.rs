//! `ENABLE_METRICS`: the one variable of this crate, with ContextForge's name and rule, read
//! through the [`Env`] seam: the binary decides once at start-up ([`init`]) from the process
//! environment it created, and this crate never reads the process environment itself, so the
//! rule is testable with a map and an embedder chooses its own source.

use std::sync::OnceLock;

pub use plugwire_env::vars::ENABLE_METRICS;
use plugwire_env::Env;

/// The decision [`init`] made; unset until then.
static DECIDED: OnceLock<bool> = OnceLock::new();

/// Metrics are on unless this is set to something other than `true` (case-insensitive), as
/// the Python plugin server decides it; off means `/metrics/prometheus` answers 503 and
/// nothing is recorded. Unset means on. Surrounding blanks are ignored, because a value pasted
/// into a Kubernetes manifest often carries one and nobody means "off" by it.
///
/// The raw value is read ([`Env::var`], not [`Env::get`]): unlike plugwire's own settings,
/// where an empty variable counts as unset, upstream compares the value with `"true"`, so
/// `ENABLE_METRICS=` turns metrics off there, and here.
pub fn metrics_enabled(env: &dyn Env) -> bool {
    match env.var(ENABLE_METRICS) {
        None => true,
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
    }
}

/// Decides, once per process, whether the process-wide registries
/// ([`crate::ServerMetrics::global`], [`crate::ClientMetrics::global`]) record. Call it at
/// start-up, before anything records: the first decision stands, and a process that never
/// calls it (an embedder, a test) has metrics on. Returns the decision in effect.
pub fn init(env: &dyn Env) -> bool {
    *DECIDED.get_or_init(|| metrics_enabled(env))
}

/// The decision in effect for the process-wide registries: [`init`]'s, or on.
pub(crate) fn decided() -> bool {
    DECIDED.get().copied().unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn unset_or_true_is_on_anything_else_is_off() {
        // (value of ENABLE_METRICS, or None for unset; metrics on?)
        let table: &[(Option<&str>, bool)] = &[
            (None, true),
            (Some("true"), true),
            (Some("TRUE"), true),
            (Some(" True "), true),
            (Some("false"), false),
            (Some("0"), false),
            (Some(""), false),
            (Some("  "), false),
            // Python compares with "true" only: "1" and "yes" are off there, so they are here.
            (Some("1"), false),
            (Some("yes"), false),
        ];
        for (value, on) in table {
            let mut env: HashMap<&str, &str> = HashMap::new();
            // A neighbour that must not matter.
            env.insert("ENABLE_METRICS_X", "false");
            if let Some(v) = value {
                env.insert(ENABLE_METRICS, v);
            }
            assert_eq!(metrics_enabled(&env), *on, "ENABLE_METRICS={value:?}");
        }
    }
}
