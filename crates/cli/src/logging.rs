//! Logging set-up: `RUST_LOG` (full filter syntax) wins over `LOG_LEVEL` (a single level such as
//! `DEBUG`, as ContextForge operators already set it); logs always go to stderr so that stdout
//! stays clean for JSON output and for the stdio transport.

use plugwire_env::{vars, Env};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `stdio_mode` forces plain (uncoloured) stderr output.
pub fn init(env: &dyn Env, stdio_mode: bool) {
    let filter = match env.get(vars::RUST_LOG) {
        Some(value) => EnvFilter::new(value),
        None => {
            let level = env
                .get(vars::LOG_LEVEL)
                .map(|v| v.to_ascii_lowercase())
                .map(|v| match v.as_str() {
                    "warning" => "warn".to_string(),
                    "critical" | "fatal" => "error".to_string(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "info".to_string());
            EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"))
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!stdio_mode && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
