//! Logging set-up: `RUST_LOG` (full filter syntax) wins over `LOG_LEVEL` (a single level such as
//! `DEBUG`, as ContextForge operators already set it); logs always go to stderr so that stdout
//! stays clean for JSON output and for the stdio transport.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `stdio_mode` forces plain (uncoloured) stderr output.
pub fn init(stdio_mode: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => EnvFilter::new(value),
        _ => {
            let level = std::env::var("LOG_LEVEL")
                .ok()
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty())
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
