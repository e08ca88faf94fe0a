//! Logging set-up. The level comes from, first to last: `RUST_LOG` (full filter syntax, for
//! developers), `-v`/`-vv` (debug/trace), `LOG_LEVEL` (a single level such as `DEBUG`, as
//! ContextForge operators already set it; an unknown name is reported and `info` used, as an
//! unknown `LOG_FORMAT` is), else `info`. `LOG_FORMAT=json` writes one JSON
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

/// The level names `LOG_LEVEL` accepts, any case, surrounding blanks ignored: ContextForge's
/// five (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`), and tracing's own (`trace`, `warn`,
/// `off`, `fatal` as `error`), with the filter level each stands for.
const LOG_LEVELS: &[(&str, &str)] = &[
    ("trace", "trace"),
    ("debug", "debug"),
    ("info", "info"),
    ("warning", "warn"),
    ("warn", "warn"),
    ("error", "error"),
    ("critical", "error"),
    ("fatal", "error"),
    ("off", "off"),
];

/// The filter level `LOG_LEVEL` asks for: `None` when unset or blank. Anything but a level
/// name is an error naming the variable and the accepted names (a value such as `verbose`
/// would otherwise parse as a filter directive for a module of that name and turn every log
/// line off).
pub fn log_level(value: Option<&str>) -> Result<Option<&'static str>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    LOG_LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, level)| Some(*level))
        .ok_or_else(|| {
            format!(
                "{LOG_LEVEL}={value:?} is not a log level (DEBUG, INFO, WARNING, ERROR, \
                 CRITICAL, also TRACE or OFF; any case); logging at INFO"
            )
        })
}

/// The filter directive the settings ask for (`RUST_LOG` is handled by the caller):
/// `-v`/`-vv`, else the `LOG_LEVEL` level ([`log_level`]), else `info`.
pub fn level(verbose: u8, log_level: Option<&str>) -> &str {
    match verbose {
        0 => log_level.unwrap_or("info"),
        1 => "debug",
        _ => "trace",
    }
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
    // Reported like a bad LOG_FORMAT, before the subscriber exists, and only when LOG_LEVEL
    // decides the level: with RUST_LOG or -v it is not read.
    let filter = match env.get(vars::RUST_LOG) {
        Some(value) => EnvFilter::new(value),
        None => {
            let from_env = if args.verbose == 0 {
                log_level(env.get(LOG_LEVEL).as_deref()).unwrap_or_else(|message| {
                    errln!("plugwire: {message}");
                    None
                })
            } else {
                None
            };
            EnvFilter::new(level(args.verbose, from_env))
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
        assert_eq!(level(0, Some("warn")), "warn");
        assert_eq!(level(1, Some("error")), "debug");
        assert_eq!(level(2, None), "trace");
        assert_eq!(level(5, None), "trace");
    }

    /// ContextForge's names in any case map to tracing's levels; blank is unset; anything else
    /// (a typo, a filter directive) is refused naming the variable and the accepted names.
    #[test]
    fn log_level_values() {
        for (value, want) in [
            ("DEBUG", "debug"),
            ("info", "info"),
            (" Warning ", "warn"),
            ("WARN", "warn"),
            ("ERROR", "error"),
            ("CRITICAL", "error"),
            ("fatal", "error"),
            ("TRACE", "trace"),
            ("off", "off"),
        ] {
            assert_eq!(log_level(Some(value)), Ok(Some(want)), "{value:?}");
        }
        assert_eq!(log_level(None), Ok(None));
        assert_eq!(log_level(Some("  ")), Ok(None));
        for bad in ["verbose", "inof", "plugwire=debug", "5"] {
            let Err(err) = log_level(Some(bad)) else {
                panic!("LOG_LEVEL={bad} was accepted");
            };
            assert!(err.contains(&format!("LOG_LEVEL={bad:?}")), "{err}");
            assert!(err.contains("WARNING") && err.contains("CRITICAL"), "{err}");
        }
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
