//! `ENABLE_METRICS`: the one variable of this crate, with ContextForge's name and rule.

/// Metrics are on unless this is set to something other than `true` (case-insensitive), as
/// the Python plugin server decides it; off means `/metrics/prometheus` answers 503 and
/// nothing is recorded.
pub const ENABLE_METRICS: &str = "ENABLE_METRICS";

/// Whether metrics are on, given an environment lookup (`std::env::var` in production, a map
/// in tests). Unset means on. Surrounding blanks are ignored, because a value pasted into a
/// Kubernetes manifest often carries one and nobody means "off" by it.
pub fn metrics_enabled(env: &dyn Fn(&str) -> Option<String>) -> bool {
    match env(ENABLE_METRICS) {
        None => true,
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
    }
}

/// The process environment as [`metrics_enabled`] wants it.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: Option<&str>) -> bool {
        let v = value.map(str::to_string);
        metrics_enabled(&move |n: &str| (n == ENABLE_METRICS).then(|| v.clone()).flatten())
    }

    #[test]
    fn unset_or_true_is_on_anything_else_is_off() {
        assert!(with(None));
        assert!(with(Some("true")));
        assert!(with(Some("TRUE")));
        assert!(with(Some(" True ")));
        assert!(!with(Some("false")));
        assert!(!with(Some("0")));
        assert!(!with(Some("")));
        // Python compares with "true" only: "1" and "yes" are off there, so they are here.
        assert!(!with(Some("1")));
        assert!(!with(Some("yes")));
    }
}
