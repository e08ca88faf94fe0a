//! Run-time settings that ContextForge 1.1.0 reads from the environment only, and plugwire also
//! from YAML `plugin_settings` (cpex ignores that section; plugwire keeps it so 1.0.x files work).
//! The environment wins field by field. All variable names of this layer are here.

use plugwire_env::Env;
use serde_json::Value;

use super::{Compat, ConfigError, PluginSettings};
use crate::serde_util::lax;

pub use plugwire_env::vars::{
    PLUGINS_COMPAT, PLUGINS_EXECUTION_POOL, PLUGINS_FAIL_ON_PLUGIN_ERROR,
};
/// cpex's default for `PLUGINS_EXECUTION_POOL`.
pub const DEFAULT_EXECUTION_POOL: usize = 10;

impl PluginSettings {
    /// Apply `PLUGINS_FAIL_ON_PLUGIN_ERROR`, `PLUGINS_EXECUTION_POOL` and `PLUGINS_COMPAT` over the
    /// YAML values (empty = unset). `PLUGINS_PLUGIN_TIMEOUT` stays with
    /// [`PluginSettings::effective_timeout`], which callers already apply.
    pub fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        let get = |var: &str| env.get(var);
        let bad = |var: &str, value: String, message: &str| ConfigError::Env {
            var: var.to_owned(),
            value,
            message: message.to_owned(),
        };
        if let Some(v) = get(PLUGINS_FAIL_ON_PLUGIN_ERROR) {
            self.fail_on_plugin_error = lax::to_bool(&Value::String(v.clone()))
                .map_err(|_| bad(PLUGINS_FAIL_ON_PLUGIN_ERROR, v, "must be true or false"))?;
        }
        if let Some(v) = get(PLUGINS_EXECUTION_POOL) {
            let n: i64 = v.parse().map_err(|_| {
                bad(
                    PLUGINS_EXECUTION_POOL,
                    v.clone(),
                    "must be a whole number >= 0 (0 = unbounded), e.g. 10",
                )
            })?;
            if n < 0 {
                return Err(bad(
                    PLUGINS_EXECUTION_POOL,
                    v,
                    "must be a whole number >= 0 (0 = unbounded), e.g. 10",
                ));
            }
            self.execution_pool = Some(n);
        }
        if let Some(v) = get(PLUGINS_COMPAT) {
            self.compat = Some(Compat::parse(&v).ok_or_else(|| {
                bad(
                    PLUGINS_COMPAT,
                    v.clone(),
                    "must be 1.0 (ContextForge 1.0.x semantics) or 1.1 (1.1.0, the default)",
                )
            })?);
        }
        Ok(())
    }

    /// The era whose semantics the manager follows (default 1.1.0).
    pub fn compat(&self) -> Compat {
        self.compat.unwrap_or_default()
    }

    /// The execution pool size; `None` = unbounded (`0`).
    pub fn execution_pool(&self) -> Option<usize> {
        match self.execution_pool {
            None => Some(DEFAULT_EXECUTION_POOL),
            Some(n) if n <= 0 => None,
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }
}
