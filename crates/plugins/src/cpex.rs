//! The `cpex-*` plugin wheels of ContextForge 1.1.0 (PyO3 packages from `IBM/cpex-plugins`) that
//! match our built-ins: their kind strings, and the few places where a package behaves unlike the
//! Python plugin the built-in imitates.
//!
//! An entry whose `kind` is one of a package's kinds gets that package's behaviour ([`Flavor::Cpex`]);
//! every other kind keeps the Python plugin's ([`Flavor::Python`]). The differences are listed in
//! `docs/plugins.md` under each plugin.
//!
//! Each package re-exports its class at the top level, and ContextForge's own `plugins/config.yaml`
//! uses both spellings, so both are registered.

use plugwire_framework::PluginError;

use crate::settings::Settings;

/// `cpex-pii-filter`: canonical kind, then the top-level re-export.
pub const PII_KINDS: [&str; 2] = [
    "cpex_pii_filter.pii_filter.PIIFilterPlugin",
    "cpex_pii_filter.PIIFilterPlugin",
];

/// `cpex-url-reputation`: canonical kind, then the top-level re-export.
pub const URL_REPUTATION_KINDS: [&str; 2] = [
    "cpex_url_reputation.url_reputation.URLReputationPlugin",
    "cpex_url_reputation.URLReputationPlugin",
];

/// `cpex-output-length-guard`: canonical kind, then the top-level re-export (the package's
/// `__init__` resolves `OutputLengthGuardPlugin` lazily, so the short form imports too).
pub const OUTPUT_LENGTH_GUARD_KINDS: [&str; 2] = [
    "cpex_output_length_guard.output_length_guard.OutputLengthGuardPlugin",
    "cpex_output_length_guard.OutputLengthGuardPlugin",
];

/// Whose behaviour a built-in follows for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The in-tree Python plugin of ContextForge 1.0.x (our short kind and the `plugins.*` path).
    Python,
    /// The `cpex-*` package of ContextForge 1.1.0.
    Cpex,
}

impl Flavor {
    /// [`Flavor::Cpex`] when `kind` is one of `cpex_kinds`.
    pub fn of(kind: &str, cpex_kinds: &[&str]) -> Flavor {
        if cpex_kinds.contains(&kind) {
            Flavor::Cpex
        } else {
            Flavor::Python
        }
    }

    /// Whether the entry follows the cpex package.
    pub fn is_cpex(self) -> bool {
        self == Flavor::Cpex
    }
}

/// An integer key that must lie in `min..=max` (the package refuses the plugin otherwise).
pub(crate) fn ranged_int(
    s: &Settings<'_>,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, PluginError> {
    let n = s.opt_int(key, i64::MIN)?.unwrap_or(default);
    if !(min..=max).contains(&n) {
        return Err(s.error(key, format!("must be between {min} and {max}, got {n}")));
    }
    Ok(n)
}

/// A key the package defines whose effect plugwire does not reproduce. At the package's default
/// it changes nothing we could get wrong, so a full default config loads; any other value is a
/// start-up error naming the key, never a silent ignore.
pub(crate) fn unimplemented_int(
    s: &Settings<'_>,
    key: &str,
    default: i64,
    package: &str,
) -> Result<(), PluginError> {
    match s.opt_int(key, i64::MIN)? {
        None => Ok(()),
        Some(n) if n == default => Ok(()),
        Some(n) => Err(s.error(
            key,
            format!(
                "is a {package} setting plugwire does not implement; remove it or leave it at \
                 {default} (got {n})"
            ),
        )),
    }
}
