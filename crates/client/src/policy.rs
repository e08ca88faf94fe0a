//! Which failures of a remote plugin mean "no verdict" (the manager's failure policy then
//! decides between blocking the request and letting it through) and how they are counted.
//!
//! The causes are read from the error's kind and `code`, which this crate sets itself
//! ([`crate::ClientError::code`] and the decoder's codes), so the mapping stays next to them.

use plugwire_framework::{FailureCause, PluginError, PluginErrorKind};

/// Codes of failures before any answer arrived: nothing to connect to, TLS refused, the
/// connection or session lost, or the session never started. A transport error without a code
/// is the "session not initialized" case, which is the same thing.
const UNREACHABLE: &[&str] = &[
    "CONNECT_ERROR",
    "TLS_ERROR",
    "TLS_CONFIG_ERROR",
    "CONNECTION_LOST",
    "SESSION_LOST",
    "",
];

/// The cause of `err` from a remote plugin, or `None` for failures that are the gateway's own
/// (a panic in this process, a payload the chain refused): those follow `on_error` unchanged.
pub fn failure_cause(err: &PluginError) -> Option<FailureCause> {
    let code = err.model.code.as_deref().unwrap_or("");
    match err.kind {
        PluginErrorKind::Timeout => Some(FailureCause::Timeout),
        PluginErrorKind::Transport if code == "TIMEOUT" => Some(FailureCause::Timeout),
        PluginErrorKind::Transport if UNREACHABLE.contains(&code) => {
            Some(FailureCause::Unreachable)
        }
        // HTTP errors, oversized or malformed answers, JSON-RPC errors, tool errors, results
        // or contexts that do not decode: the server answered, but not with a verdict.
        PluginErrorKind::Transport => Some(FailureCause::InvalidAnswer),
        PluginErrorKind::Plugin => Some(FailureCause::Error),
        _ => None,
    }
}

/// Counts one fail-open decision into `plugwire_client_fail_open_total`.
pub(crate) fn record_fail_open(plugin: &str, hook: &str, cause: FailureCause) {
    plugwire_metrics::ClientMetrics::global().fail_open(plugin, hook, cause.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientError;
    use std::time::Duration;

    fn transport(e: ClientError) -> PluginError {
        crate::to_plugin_error(PluginErrorKind::Transport, "P", &e)
    }

    #[test]
    fn each_client_error_has_its_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect = ClientError::connect("P", "http://x", refused, None);
        let timeout = ClientError::timeout("P", "http://x", "tools/call", Duration::from_secs(1));
        let malformed = ClientError::malformed("P", "http://x", "tools/call", "not JSON", None);
        assert_eq!(
            failure_cause(&transport(connect)),
            Some(FailureCause::Unreachable)
        );
        assert_eq!(
            failure_cause(&transport(timeout)),
            Some(FailureCause::Timeout)
        );
        assert_eq!(
            failure_cause(&transport(malformed)),
            Some(FailureCause::InvalidAnswer)
        );
        // The other kinds: TLS refusals and lost sessions are unreachable (and never a verdict);
        // an HTTP error or a gRPC status the server chose is an invalid answer.
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let tls = crate::error::TlsFailure::new("unknown CA", rustls::Error::DecryptError);
        for (err, cause) in [
            (
                ClientError::spawn("P", "stdio:x", io()),
                FailureCause::Unreachable,
            ),
            (
                ClientError::tls("P", "https://x", tls),
                FailureCause::Unreachable,
            ),
            (
                ClientError::lost("P", "https://x", "reset", None),
                FailureCause::Unreachable,
            ),
            (
                ClientError::session_lost("P", "https://x", "s".into(), 404),
                FailureCause::Unreachable,
            ),
            (
                ClientError::http_status("P", "https://x", "tools/call", 500, String::new()),
                FailureCause::InvalidAnswer,
            ),
            (
                ClientError::not_plugin_server("P", "grpcs://x", "UNIMPLEMENTED", None),
                FailureCause::InvalidAnswer,
            ),
        ] {
            assert_eq!(failure_cause(&transport(err)), Some(cause));
        }
        let manager_timeout = PluginError::timeout("P", Duration::from_secs(2));
        assert_eq!(failure_cause(&manager_timeout), Some(FailureCause::Timeout));
        let own = PluginError::plugin("P", "boom");
        assert_eq!(failure_cause(&own), Some(FailureCause::Error));
        let panic = PluginError::panic("P", "oops");
        assert_eq!(failure_cause(&panic), None);
    }
}
