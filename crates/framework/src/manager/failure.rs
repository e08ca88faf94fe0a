//! The failure policy for remote plugins: what the chain does when a `kind: external` plugin
//! gives no verdict because its server is unreachable, too slow, or answers something that is
//! not a plugin result.
//!
//! - **Fail closed**: the request is blocked with a violation naming the plugin
//!   ([`PLUGIN_UNAVAILABLE`], HTTP status 503), so the embedding gateway answers it as a denial
//!   it can explain, not as an internal error. Chosen by `on_error: fail` (the default) in the
//!   modes that may stop a request: `sequential`, `transform`, `concurrent` (1.0.x names:
//!   `enforce`, or any mode with `fail_on_plugin_error`).
//! - **Fail open**: the request goes on without the plugin, with one WARN event (plugin, hook,
//!   cause) and one count through [`Plugin::fail_open`] (the client crate's
//!   `plugwire_client_fail_open_total`). Chosen by `on_error: ignore | disable` (1.0.x:
//!   `enforce_ignore_error`, `permissive`), and always for `audit` and `fire_and_forget`:
//!   observers never stop a request, also when their server is down.
//!
//! A remote plugin's *own* error (the server ran it and it answered an error object) is not
//! unavailability: `on_error` applies as for an in-process plugin (as ContextForge does), and
//! letting the request through after it is counted as fail-open with cause `error`.
//! User guide: `docs/failure-policy.md`.

use std::fmt;

use serde_json::Value;

use crate::{HookType, JsonMap, Plugin, PluginError, PluginViolation};

/// The violation code of a request blocked because a remote plugin gave no verdict.
pub const PLUGIN_UNAVAILABLE: &str = "PLUGIN_UNAVAILABLE";

/// Why a remote plugin left a call without its verdict (the `reason` label of
/// `plugwire_client_fail_open_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCause {
    /// No connection: refused, no route, TLS refused, connection lost, session not started.
    Unreachable,
    /// No answer within the call timeout.
    Timeout,
    /// An answer that is not a usable plugin result (HTTP error, not JSON, wrong JSON-RPC).
    InvalidAnswer,
    /// The remote plugin ran and answered with its own error.
    Error,
}

impl FailureCause {
    /// The label value: `unreachable`, `timeout`, `invalid_answer`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Unreachable => "unreachable",
            FailureCause::Timeout => "timeout",
            FailureCause::InvalidAnswer => "invalid_answer",
            FailureCause::Error => "error",
        }
    }

    /// True when the plugin gave no verdict at all (everything but its own error): the cases
    /// the failure policy decides.
    pub fn is_unavailable(self) -> bool {
        self != FailureCause::Error
    }

    fn describe(self) -> &'static str {
        match self {
            FailureCause::Unreachable => "cannot be reached",
            FailureCause::Timeout => "did not answer in time",
            FailureCause::InvalidAnswer => "answered something that is not a plugin result",
            FailureCause::Error => "failed",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the chain does with one failed call.
pub(super) enum Decision {
    /// Not unavailability: `on_error` (or the 1.0.x mode) as written. `Some(Error)` for a
    /// remote plugin's own error, so letting it through is still counted.
    AsWritten(Option<FailureCause>),
    /// Block the request with this violation.
    Closed(Box<PluginViolation>),
    /// Go on without the plugin; the caller reports it with [`opened`].
    Open(FailureCause),
}

/// Applies the policy to `err` from plugin `name`; `closed` is the entry's choice (mode and
/// `on_error`, read by the caller in its era's terms).
pub(super) fn decide(plugin: &dyn Plugin, name: &str, err: &PluginError, closed: bool) -> Decision {
    match plugin.failure_cause(err) {
        Some(cause) if cause.is_unavailable() && closed => {
            Decision::Closed(Box::new(violation(name, cause, err)))
        }
        Some(cause) if cause.is_unavailable() => Decision::Open(cause),
        other => Decision::AsWritten(other),
    }
}

/// The fail-closed violation: names the plugin in `reason`, the cause and the transport's
/// message in `description`; `details` has both machine-readable.
pub(super) fn violation(name: &str, cause: FailureCause, err: &PluginError) -> PluginViolation {
    let mut details = JsonMap::new();
    details.insert("plugin".into(), Value::String(name.to_owned()));
    details.insert("cause".into(), Value::String(cause.as_str().into()));
    if let Some(code) = err.model.code.as_deref().filter(|c| !c.is_empty()) {
        details.insert("error_code".into(), Value::String(code.to_owned()));
    }
    let mut v = PluginViolation::new(
        format!("Plugin {name} unavailable"),
        format!(
            "The request was blocked because plugin '{name}' {} (on_error: fail): {}",
            cause.describe(),
            err.message()
        ),
        PLUGIN_UNAVAILABLE,
    );
    v.details = Some(details);
    v.http_status_code = Some(503);
    v.plugin_name = Some(name.to_owned());
    v
}

/// Reports one fail-open decision: one WARN event and the plugin's own count.
pub(super) fn opened(
    plugin: &dyn Plugin,
    name: &str,
    hook: HookType,
    cause: FailureCause,
    err: &PluginError,
) {
    tracing::warn!(plugin = %name, %hook, cause = cause.as_str(), error = %err, "remote plugin failed; the request continues without it (fail-open)");
    plugin.fail_open(hook, cause);
}
