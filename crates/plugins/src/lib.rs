#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod cpex;
pub mod deny_list;
pub mod olg_cpex;
mod olg_text;
pub mod output_length_guard;
pub mod pii;
pub mod pyre;
pub mod search_replace;
mod settings;
pub mod url_reputation;

use std::sync::Arc;

use plugwire_framework::{Plugin, PluginConfig, PluginError, PluginErrorKind, PluginRegistry};

pub use deny_list::DenyListPlugin;
pub use output_length_guard::OutputLengthGuardPlugin;
pub use pii::PiiFilterPlugin;
pub use search_replace::SearchReplacePlugin;
pub use url_reputation::UrlReputationPlugin;

/// Every kind string a built-in answers to, with the constructor.
type Ctor = fn(PluginConfig) -> Result<Arc<dyn Plugin>, PluginError>;

fn arc<P: Plugin>(r: Result<P, PluginError>) -> Result<Arc<dyn Plugin>, PluginError> {
    r.map(|p| Arc::new(p) as Arc<dyn Plugin>)
}

/// A rendered prompt's `messages`, when it has any: what the prompt-result hooks rewrite.
pub(crate) fn prompt_messages(
    result: &mut serde_json::Value,
) -> Option<&mut Vec<serde_json::Value>> {
    result
        .get_mut("messages")
        .and_then(serde_json::Value::as_array_mut)
        .filter(|m| !m.is_empty())
}

/// Refuse an entry that lists one of cpex's newer hooks: no built-in implements them, and a plugin
/// that silently passes every such call would look like a working guard.
fn no_cpex_hooks(
    c: PluginConfig,
    ctor: fn(PluginConfig) -> Result<Arc<dyn Plugin>, PluginError>,
) -> Result<Arc<dyn Plugin>, PluginError> {
    if let Some(h) = c.hooks.iter().find(|h| h.is_cpex_only()) {
        return Err(PluginError::new(
            PluginErrorKind::Initialization,
            c.name.clone(),
            format!(
                "built-in plugin kind `{}` does not implement hook `{h}` (key `hooks`); \
                 only Rust plugins of your own can handle cpex's newer hooks",
                c.kind
            ),
        ));
    }
    ctor(c)
}

/// `(kinds, constructor)` of each built-in: our short kind first, then the Python paths.
pub fn builtins() -> Vec<(&'static [&'static str], Ctor)> {
    vec![
        (&[search_replace::KIND, search_replace::PYTHON_KIND], |c| {
            arc(SearchReplacePlugin::new(c))
        }),
        (&[deny_list::KIND, deny_list::PYTHON_KIND], |c| {
            arc(DenyListPlugin::new(c))
        }),
        (
            &[
                pii::KIND,
                pii::PYTHON_KIND,
                pii::CPEX_CANONICAL_KIND,
                pii::CPEX_KIND,
            ],
            |c| arc(PiiFilterPlugin::new(c)),
        ),
        (
            &[
                output_length_guard::KIND,
                output_length_guard::PYTHON_KIND,
                cpex::OUTPUT_LENGTH_GUARD_KINDS[0],
                cpex::OUTPUT_LENGTH_GUARD_KINDS[1],
            ],
            |c| arc(OutputLengthGuardPlugin::new(c)),
        ),
        (
            &[
                url_reputation::KIND,
                url_reputation::PYTHON_KIND,
                cpex::URL_REPUTATION_KINDS[0],
                url_reputation::CPEX_KIND,
            ],
            |c| arc(UrlReputationPlugin::new(c)),
        ),
    ]
}

/// Register every built-in under its kinds (ours and the Python dotted paths).
pub fn register_builtins(registry: &mut PluginRegistry) {
    for (kinds, ctor) in builtins() {
        registry.register(kinds, move |c| no_cpex_hooks(c, ctor));
    }
}

/// A registry holding only the built-ins (the client crate adds `external` on top).
pub fn builtin_registry() -> PluginRegistry {
    let mut r = PluginRegistry::new();
    register_builtins(&mut r);
    r
}
