//! Logging set-up. The level comes from, first to last: `RUST_LOG` (full filter syntax, for
//! developers), `-v`/`-vv` (debug/trace), `LOG_LEVEL` (a single level such as `DEBUG`, as
//! ContextForge operators already set it), else `info`. `LOG_FORMAT=json` writes one JSON
//! object per line (timestamp, level, message and the event's fields at the top level) for
//! log pipelines; `text` (the default) is the human format. Logs always go to stderr so that
//! stdout stays clean for JSON output and for the stdio transport.

use plugwire_env::{vars, Env};
use tracing_subscriber::EnvFilter;

use plugwire_env::vars::{LOG_FORMAT, LOG_LEVEL};

/// The global logging flags.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LogArgs {
    /// More log output: -v for debug (handshake details), -vv for trace. Same effect as
    /// LOG_LEVEL=DEBUG / TRACE, and wins over it.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter directive the settings ask for (`RUST_LOG` is handled by the caller).
pub fn level(verbose: u8, log_level: Option<&str>) -> String {
    match verbose {
        0 => {}
        1 => return "debug".into(),
        _ => return "trace".into(),
    }
    log_level
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .map(|v| match v.as_str() {
            "warning" => "warn".to_string(),
            "critical" | "fatal" => "error".to_string(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| "info".to_string())
}

/// The format `LOG_FORMAT` asks for; an unknown value is reported and falls back to text.
pub fn format(value: Option<&str>) -> Result<Format, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("text") => Ok(Format::Text),
        Some("json") => Ok(Format::Json),
        Some(other) => Err(format!(
            "{LOG_FORMAT}={other:?} is not \"text\" or \"json\"; logging as text"
        )),
    }
}

/// Installs the global subscriber. `stdio_mode` forces plain (uncoloured) stderr output.
pub fn init(env: &dyn Env, stdio_mode: bool, args: &LogArgs) {
    let filter = match env.get(vars::RUST_LOG) {
        Some(value) => EnvFilter::new(value),
        None => {
            let level = level(args.verbose, env.get(LOG_LEVEL).as_deref());
            EnvFilter::try_new(&level).unwrap_or_else(|_| {
                errln!("plugwire: {LOG_LEVEL}={level:?} is not a log level (error, warning, info, debug, trace); using info");
                EnvFilter::new("info")
            })
        }
    };
    let format = format(env.get(LOG_FORMAT).as_deref()).unwrap_or_else(|message| {
        errln!("plugwire: {message}");
        Format::Text
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A failed write to stderr (a closed pipe, `2>&-`) drops the line: by default the
        // subscriber would report it with `eprintln!`, to the same stderr, which panics.
        .log_internal_errors(false)
        .with_target(false);
    let _ = match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        Format::Text => builder
            .with_ansi(!stdio_mode && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_wins_over_log_level() {
        assert_eq!(level(0, None), "info");
        assert_eq!(level(0, Some("WARNING")), "warn");
        assert_eq!(level(0, Some("CRITICAL")), "error");
        assert_eq!(level(1, Some("ERROR")), "debug");
        assert_eq!(level(2, None), "trace");
        assert_eq!(level(5, None), "trace");
    }

    #[test]
    fn log_format_values() {
        assert_eq!(format(None), Ok(Format::Text));
        assert_eq!(format(Some("JSON")), Ok(Format::Json));
        assert_eq!(format(Some(" text ")), Ok(Format::Text));
        let Err(err) = format(Some("xml")) else {
            panic!("LOG_FORMAT=xml was accepted");
        };
        assert!(err.contains("LOG_FORMAT=\"xml\""), "{err}");
    }
}
