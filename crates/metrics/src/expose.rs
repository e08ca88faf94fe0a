//! The exposition: text, content type, paths, and the answer when metrics are off.

use prometheus_client::registry::Registry;

/// ContextForge's path for the scrape.
pub const PROMETHEUS_PATH: &str = "/metrics/prometheus";
/// The conventional path, served too.
pub const METRICS_PATH: &str = "/metrics";

/// The content type of [`encode`]'s text: OpenMetrics 1.0, which Prometheus parses natively
/// (and which is a superset of the 0.0.4 text format apart from the final `# EOF`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The body of the 503 answer when `ENABLE_METRICS` is off: ContextForge's words and spacing.
pub const DISABLED_BODY: &str = r#"{"error": "Metrics collection is disabled"}"#;

/// Whether `path` is one of the scrape paths.
pub fn is_metrics_path(path: &str) -> bool {
    path == PROMETHEUS_PATH || path == METRICS_PATH
}

/// The registry as text. Encoding into a `String` cannot fail; an error from a family's own
/// encoder (none in this crate) would leave the text truncated, which a scraper reports.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
