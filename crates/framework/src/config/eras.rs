//! The mode vocabulary of both ContextForge eras, `on_error`, `capabilities` and the 1.0.x switch.
//!
//! ContextForge 1.0.x wrote `enforce`, `enforce_ignore_error`, `permissive`, `disabled`; 1.1.0 (the
//! cpex framework) writes `sequential`, `transform`, `audit`, `concurrent`, `fire_and_forget`,
//! `disabled` plus `on_error: fail | ignore | disable`, and migrates the old names on input. An
//! entry keeps the name it was written with ([`PluginMode`]) so the 1.0.x switch ([`Compat`]) can
//! give legacy names their 1.0.0 behaviour; [`PluginMode::phase`] and
//! [`super::PluginConfig::effective_on_error`] give the 1.1.0 reading. See `docs/eras.md`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Every mode name plugwire accepts, 1.1.0 names first.
pub const MODE_NAMES: &[&str] = &[
    "sequential",
    "transform",
    "audit",
    "concurrent",
    "fire_and_forget",
    "disabled",
    "enforce",
    "enforce_ignore_error",
    "permissive",
];

/// `mode:` of an entry, as written. Names are exact lower case (as both Python eras require).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PluginMode {
    /// 1.1.0: may modify and block; runs first, serially, by priority. The default (as in cpex).
    #[default]
    Sequential,
    /// 1.1.0: may modify, cannot block (its violation is logged and dropped).
    Transform,
    /// 1.1.0: observes only; its modification and violation are dropped.
    Audit,
    /// 1.1.0: runs in parallel after the serial phases; may block (fail-fast), cannot modify.
    Concurrent,
    /// 1.1.0: runs in the background after the chain on a copy of the original payload.
    FireAndForget,
    /// Both eras: never loaded.
    Disabled,
    /// 1.0.x name; 1.1.0 reads it as `sequential`.
    Enforce,
    /// 1.0.x name; 1.1.0 reads it as `sequential` with `on_error: ignore` unless `on_error` is set.
    EnforceIgnoreError,
    /// 1.0.x name; 1.1.0 reads it as `transform` (so its errors now fail the request).
    Permissive,
}

/// The execution phase of a 1.1.0 mode, in the order the phases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Runs in order, may modify and block.
    Sequential,
    /// May modify, cannot block.
    Transform,
    /// Observes only.
    Audit,
    /// Runs alongside other concurrent plugins, may block.
    Concurrent,
    /// Runs in the background after the chain; its result is ignored.
    FireAndForget,
}

impl Phase {
    /// The name as written in YAML.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Sequential => "sequential",
            Phase::Transform => "transform",
            Phase::Audit => "audit",
            Phase::Concurrent => "concurrent",
            Phase::FireAndForget => "fire_and_forget",
        }
    }
}

/// How a legacy-era manager treats an entry (the 1.0.0 behaviours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyBehaviour {
    /// A block stops the request; an error too.
    Enforce,
    /// A block stops the request; an error is ignored.
    EnforceIgnoreError,
    /// A block is only logged.
    Permissive,
}

impl PluginMode {
    /// The name as written in YAML.
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginMode::Sequential => "sequential",
            PluginMode::Transform => "transform",
            PluginMode::Audit => "audit",
            PluginMode::Concurrent => "concurrent",
            PluginMode::FireAndForget => "fire_and_forget",
            PluginMode::Disabled => "disabled",
            PluginMode::Enforce => "enforce",
            PluginMode::EnforceIgnoreError => "enforce_ignore_error",
            PluginMode::Permissive => "permissive",
        }
    }

    /// Parse an exact mode name of either era.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sequential" => PluginMode::Sequential,
            "transform" => PluginMode::Transform,
            "audit" => PluginMode::Audit,
            "concurrent" => PluginMode::Concurrent,
            "fire_and_forget" => PluginMode::FireAndForget,
            "disabled" => PluginMode::Disabled,
            "enforce" => PluginMode::Enforce,
            "enforce_ignore_error" => PluginMode::EnforceIgnoreError,
            "permissive" => PluginMode::Permissive,
            _ => return None,
        })
    }

    /// True for the names only ContextForge 1.0.x writes.
    pub const fn is_legacy_name(self) -> bool {
        matches!(
            self,
            PluginMode::Enforce | PluginMode::EnforceIgnoreError | PluginMode::Permissive
        )
    }

    /// The 1.1.0 phase (legacy names migrated as cpex migrates them); `None` for `disabled`.
    pub const fn phase(self) -> Option<Phase> {
        Some(match self {
            PluginMode::Sequential | PluginMode::Enforce | PluginMode::EnforceIgnoreError => {
                Phase::Sequential
            }
            PluginMode::Transform | PluginMode::Permissive => Phase::Transform,
            PluginMode::Audit => Phase::Audit,
            PluginMode::Concurrent => Phase::Concurrent,
            PluginMode::FireAndForget => Phase::FireAndForget,
            PluginMode::Disabled => return None,
        })
    }

    /// The 1.1.0 name this mode migrates to (`disabled` stays `disabled`).
    pub const fn migrated(self) -> PluginMode {
        match self {
            PluginMode::Enforce | PluginMode::EnforceIgnoreError => PluginMode::Sequential,
            PluginMode::Permissive => PluginMode::Transform,
            other => other,
        }
    }

    /// The 1.0.0 behaviour under the 1.0.x switch. Legacy names keep theirs (their `on_error`
    /// is ignored, as a 1.0.0 gateway ignores the key); 1.1.0 names take the nearest 1.0.0
    /// behaviour: `sequential`/`concurrent` with `on_error: fail` → enforce, with ignore/disable →
    /// enforce_ignore_error; `transform`/`audit`/`fire_and_forget` → permissive.
    pub fn legacy_behaviour(self, on_error: OnError) -> Option<LegacyBehaviour> {
        Some(match self {
            PluginMode::Enforce => LegacyBehaviour::Enforce,
            PluginMode::EnforceIgnoreError => LegacyBehaviour::EnforceIgnoreError,
            PluginMode::Permissive
            | PluginMode::Transform
            | PluginMode::Audit
            | PluginMode::FireAndForget => LegacyBehaviour::Permissive,
            PluginMode::Sequential | PluginMode::Concurrent => match on_error {
                OnError::Fail => LegacyBehaviour::Enforce,
                OnError::Ignore | OnError::Disable => LegacyBehaviour::EnforceIgnoreError,
            },
            PluginMode::Disabled => return None,
        })
    }
}

/// The message listing both eras' mode names.
pub fn mode_help() -> String {
    "valid modes are sequential, transform, audit, concurrent, fire_and_forget, disabled \
     (ContextForge 1.1.0) and enforce, enforce_ignore_error, permissive, disabled (ContextForge 1.0.x)"
        .to_owned()
}

impl fmt::Display for PluginMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PluginMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PluginMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PluginMode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown mode {s:?}; {}", mode_help())))
    }
}

/// `on_error:` (1.1.0): what a plugin's error or timeout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnError {
    /// The request fails with the plugin's error.
    #[default]
    Fail,
    /// Logged; the plugin counts as "continue, unchanged".
    Ignore,
    /// As `ignore`, and the plugin is skipped for the rest of the manager's life.
    Disable,
}

impl OnError {
    /// The name as written in YAML.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnError::Fail => "fail",
            OnError::Ignore => "ignore",
            OnError::Disable => "disable",
        }
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OnError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "fail" => Ok(OnError::Fail),
            "ignore" => Ok(OnError::Ignore),
            "disable" => Ok(OnError::Disable),
            _ => Err(serde::de::Error::custom(format!(
                "unknown on_error {s:?}; valid values are fail, ignore, disable (ContextForge \
                 1.1.0; ContextForge 1.0.x has no on_error and uses the mode names enforce, \
                 enforce_ignore_error, permissive instead)"
            ))),
        }
    }
}

macro_rules! capabilities {
    ($($v:ident => $s:literal),* $(,)?) => {
        /// A `capabilities:` value (1.1.0). Variants are in alphabetical order of their names,
        /// so a `BTreeSet` serializes sorted, as cpex does.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Capability { $(#[doc = concat!("`", $s, "`.")] $v),* }

        impl Capability {
            /// All 12 names, sorted.
            pub const NAMES: &'static [&'static str] = &[$($s),*];

            /// The name as written in YAML.
            pub const fn as_str(self) -> &'static str {
                match self { $(Capability::$v => $s),* }
            }

            /// Parses a YAML name; `None` for an unknown one.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Capability::$v),)* _ => None }
            }
        }
    };
}

capabilities! {
    AppendDelegation => "append_delegation",
    AppendLabels => "append_labels",
    ReadAgent => "read_agent",
    ReadClaims => "read_claims",
    ReadDelegation => "read_delegation",
    ReadHeaders => "read_headers",
    ReadLabels => "read_labels",
    ReadPermissions => "read_permissions",
    ReadRoles => "read_roles",
    ReadSubject => "read_subject",
    ReadTeams => "read_teams",
    WriteHeaders => "write_headers",
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The message for an unknown capability, listing the valid ones.
pub fn capability_error(s: &str) -> String {
    format!(
        "Unknown capability: {s}; valid values are {} (ContextForge 1.1.0; 1.0.x has no capabilities)",
        Capability::NAMES.join(", ")
    )
}

/// `capabilities:` as cpex reads it: a list of known names; any non-list value (null, a string)
/// silently becomes empty.
pub(crate) fn de_capabilities<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeSet<Capability>, D::Error> {
    let v = Value::deserialize(d)?;
    let Value::Array(items) = v else {
        return Ok(Default::default());
    };
    items
        .iter()
        .map(|i| {
            let s = i.as_str().ok_or_else(|| {
                serde::de::Error::custom(format!("expected a capability name, found {i}"))
            })?;
            Capability::parse(s).ok_or_else(|| serde::de::Error::custom(capability_error(s)))
        })
        .collect()
}

/// Which era's semantics the manager follows where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// ContextForge 1.0.x: pure priority order, the 1.0.0 mode semantics, run-time
    /// `fail_on_plugin_error`.
    V1_0,
    /// ContextForge 1.1.0 (the default): phases, `on_error`.
    #[default]
    V1_1,
}

impl Compat {
    /// The name as written in YAML.
    pub const fn as_str(self) -> &'static str {
        match self {
            Compat::V1_0 => "1.0",
            Compat::V1_1 => "1.1",
        }
    }

    /// `"1.0"` or `"1.1"` (surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "1.0" => Some(Compat::V1_0),
            "1.1" => Some(Compat::V1_1),
            _ => None,
        }
    }
}

impl Serialize for Compat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Compat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML may write 1.0 as a number; accept both spellings.
        let v = Value::deserialize(d)?;
        let s = match &v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        let s = if s == "1" { "1.0".to_owned() } else { s };
        Compat::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown compat {v}; valid values are \"1.0\" (ContextForge 1.0.x semantics) and \
                 \"1.1\" (ContextForge 1.1.0 semantics, the default)"
            ))
        })
    }
}
