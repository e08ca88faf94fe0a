//! What the reload tests share: the plugins YAML they rewrite, the server wired with a
//! swappable backend and a reloader as `plugwire serve` wires it, and an mTLS client.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use plugwire_framework::{Config, PluginRegistry};
use plugwire_server::reload::{ConfigReloader, SwappableBackend};
use plugwire_server::ManagerBackend;
use plugwire_tls::{
    build_client_config, resolve_client_tls, ClientTlsLayer, ReloadableServerConfig,
};
use tokio_rustls::TlsConnector;

/// The `plugins:` section: SearchReplace turning `crap` into `replace` in tool arguments, so a
/// call tells which config answered it.
pub fn search_replace_yaml(replace: &str) -> String {
    format!(
        r#"
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: ["tool_pre_invoke"]
    config:
      words:
        - search: crap
          replace: {replace}
"#
    )
}

/// The built-in plugins' manager over `loaded` behind a swappable backend, and the reloader
/// of `config` that swaps it and reloads `tls` (no bound settings to compare).
pub async fn reloading_backend(
    config: &Path,
    loaded: Config,
    tls: &Arc<ReloadableServerConfig>,
) -> (Arc<SwappableBackend>, ConfigReloader) {
    let env = plugwire_env::EmptyEnv;
    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);
    let registry = Arc::new(registry);
    let manager = plugwire_server::build_manager(loaded, &registry, &env).unwrap();
    let manager = plugwire_server::initialize_manager(manager).await.unwrap();
    let swappable = Arc::new(SwappableBackend::new(ManagerBackend::new(manager)));
    let reloader = ConfigReloader::new(
        config.to_path_buf(),
        Arc::new(plugwire_env::EmptyEnv),
        registry,
        Arc::clone(&swappable),
        Box::new(|_| Ok(Vec::new())),
        Vec::new(),
        vec![Arc::clone(tls)],
    );
    (swappable, reloader)
}

/// A client presenting `cert`/`key` and trusting `ca`, through the client resolver.
pub fn mtls_connector(ca: &Path, cert: &Path, key: &Path) -> TlsConnector {
    let env: HashMap<&str, &str> = HashMap::new();
    let layer = ClientTlsLayer {
        certfile: Some(cert.to_path_buf()),
        keyfile: Some(key.to_path_buf()),
        ca_bundle: Some(ca.to_path_buf()),
        ..Default::default()
    };
    let settings = resolve_client_tls(Some(&layer), &env).unwrap().unwrap();
    TlsConnector::from(build_client_config(&settings).unwrap())
}
