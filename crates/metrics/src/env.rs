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

/// The warning to log at start-up when `ENABLE_METRICS` is set to something other than `true`
/// or `false` (any case, surrounding blanks ignored): `1`, `yes`, `on`, a typo, or an empty
/// value. [`metrics_enabled`] keeps ContextForge's reading (off) and says nothing; an operator
/// who meant "on" learns it from this line, not from a 503 at scrape time. `None` when unset
/// or one of the two spellings.
pub fn unrecognised_value(env: &dyn Env) -> Option<String> {
    let value = env.var(ENABLE_METRICS)?;
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        return None;
    }
    Some(format!(
        "{ENABLE_METRICS}={value:?} is not `true` or `false`: metrics are off, as ContextForge \
         reads it (only `true` turns them on); set {ENABLE_METRICS}=true or unset it for metrics, \
         {ENABLE_METRICS}=false to silence this warning"
    ))
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

    /// Only unset, `true` and `false` (any case, blanks ignored) pass quietly; every other
    /// value, which ContextForge reads as off, gets a warning naming the variable and value.
    #[test]
    fn values_other_than_true_or_false_are_warned_about() {
        for quiet in [
            None,
            Some("true"),
            Some(" TRUE "),
            Some("false"),
            Some("False"),
        ] {
            let env: HashMap<&str, &str> = quiet.map(|v| (ENABLE_METRICS, v)).into_iter().collect();
            assert_eq!(unrecognised_value(&env), None, "ENABLE_METRICS={quiet:?}");
        }
        for loud in ["1", "yes", "ture", "on", "", "0"] {
            let env: HashMap<&str, &str> = HashMap::from([(ENABLE_METRICS, loud)]);
            let Some(warning) = unrecognised_value(&env) else {
                panic!("ENABLE_METRICS={loud:?} passed without a warning");
            };
            assert!(
                warning.contains(&format!("ENABLE_METRICS={loud:?}")),
                "{warning}"
            );
            assert!(warning.contains("metrics are off"), "{warning}");
            assert!(
                !metrics_enabled(&env),
                "{loud:?} stays off, as upstream reads it"
            );
        }
    }
}
