#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod fuzz;
pub mod raw_socket;

use std::sync::Arc;

use plugwire_framework::{Config, GlobalContext, HookType, PluginContext, PluginRegistry};
use plugwire_mcp::CallToolResult;
use plugwire_server::{dispatch, Backend, ManagerBackend};

/// Target names, also the corpus directory names.
pub const TARGETS: [&str; 5] = ["request", "client_decode", "yaml", "pem", "raw_socket"];

/// The plugins the request target calls (deterministic, so both paths can be compared).
const PLUGINS_YAML: &str = r#"
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: ["prompt_pre_fetch", "tool_pre_invoke", "tool_post_invoke"]
    config:
      words:
        - search: crap
          replace: crud
  - name: DenyListPlugin
    kind: plugins.deny_filter.deny.DenyListPlugin
    hooks: ["prompt_pre_fetch", "tool_pre_invoke"]
    config:
      words: [innovative]
"#;

/// The targets, with what they need built once (a runtime and a plugin backend).
pub struct Targets {
    rt: tokio::runtime::Runtime,
    backend: Arc<dyn Backend>,
    scratch: tempfile::TempDir,
    raw: raw_socket::RawServer,
}

impl Targets {
    /// Builds the runtime and the backend.
    pub fn new() -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let env = plugwire_framework::EmptyEnv;
        let config =
            Config::load_str(PLUGINS_YAML, "fuzz.yaml", &env).map_err(|e| e.to_string())?;
        let mut registry = PluginRegistry::new();
        plugwire_plugins::register_builtins(&mut registry);
        let manager =
            plugwire_server::build_manager(config, &registry, &env).map_err(|e| e.to_string())?;
        let manager = rt
            .block_on(plugwire_server::initialize_manager(manager))
            .map_err(|e| e.to_string())?;
        let backend: Arc<dyn Backend> = Arc::new(ManagerBackend::new(manager));
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let raw = {
            let _guard = rt.enter();
            raw_socket::RawServer::start(scratch.path(), Arc::clone(&backend))?
        };
        Ok(Targets {
            rt,
            backend,
            scratch,
            raw,
        })
    }

    /// Runs target `name` on `data`. Panics are the findings.
    pub fn run(&self, name: &str, data: &[u8]) {
        match name {
            "request" => self.request(data),
            "client_decode" => client_decode(data),
            "yaml" => yaml(data),
            "pem" => self.pem(data),
            "raw_socket" => self.rt.block_on(self.raw.exchange(data)),
            other => panic!("unknown fuzz target {other:?}; targets: {TARGETS:?}"),
        }
    }

    /// Request decoding: the `invoke_hook` fast path must answer exactly the bytes of the
    /// generic path whenever it answers at all.
    fn request(&self, data: &[u8]) {
        self.rt.block_on(async {
            let Some(fast) = dispatch::answer_invoke_hook(&self.backend, data).await else {
                if let Ok(msg) = plugwire_mcp::parse_message(data) {
                    let _ = dispatch::handle_message(&self.backend, msg).await;
                }
                return;
            };
            let msg = plugwire_mcp::parse_message(data).unwrap_or_else(|e| {
                panic!("fast path answered a body the generic path refuses: {e}")
            });
            let generic = dispatch::handle_message(&self.backend, msg)
                .await
                .map(|v| serde_json::to_vec(&v).unwrap_or_default())
                .unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&generic),
                "fast and generic paths differ"
            );
        });
    }

    /// PEM/key loading from a file (as the server and client do).
    fn pem(&self, data: &[u8]) {
        let path = self.scratch.path().join("input.pem");
        if std::fs::write(&path, data).is_err() {
            return;
        }
        let origin = plugwire_tls::Origin::Default;
        let setting = plugwire_tls::Setting {
            yaml: "fuzz.keyfile_password".into(),
            var: "FUZZ_PASSWORD",
        };
        let _ = plugwire_tls::pem::load_certificates("certificate file", &path, &origin);
        let _ = plugwire_tls::pem::load_private_key(&path, &origin, None, &setting);
        let _ =
            plugwire_tls::pem::load_private_key(&path, &origin, Some(("pw", &origin)), &setting);
    }
}

/// Client side: an answer body (SSE or JSON) decoded into messages, then each `result` as an
/// `invoke_hook` and a `get_plugin_config` answer.
fn client_decode(data: &[u8]) {
    let messages = match plugwire_mcp::sse::decode_messages(data) {
        Ok(m) => m,
        Err(_) => match serde_json::from_slice(data) {
            Ok(v) => vec![v],
            Err(_) => return,
        },
    };
    for m in messages {
        let Some(result) = m.get("result") else {
            continue;
        };
        let Ok(call) = serde_json::from_value::<CallToolResult>(result.clone()) else {
            continue;
        };
        let mut ctx = PluginContext::new(GlobalContext::new("fuzz"));
        for hook in [
            HookType::ToolPreInvoke,
            HookType::PromptPreFetch,
            HookType::ToolPostInvoke,
        ] {
            let _ = plugwire_client::decode::decode_invoke_hook("P", "u", hook, &call, &mut ctx);
        }
        let _ = plugwire_client::decode::decode_plugin_config("P", "u", &call);
    }
}

/// The plugins YAML loader with `{{ env.* }}` templating (a few variables set).
fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env =
        std::collections::HashMap::from([("HOME", "/home/fuzz"), ("PORT", "8000"), ("EMPTY", "")]);
    let _ = Config::load_str(text, "fuzz.yaml", &env);
}
