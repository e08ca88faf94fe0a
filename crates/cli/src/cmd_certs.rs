//! `plugwire certs`: the CA, the gateway client certificate and the plugin server certificates
//! (what `make certs-mcp-*` runs), and `check` for expiry and issuer problems.

use std::path::PathBuf;
use std::process::ExitCode;

use plugwire_certs::{
    CertManagerOptions, CheckOptions, ConfigSource, Event, Identity, KeyType, Options, Outcome,
    Request, San,
};

/// Exit code of `ca|gateway|plugin|all` when something went wrong (clap uses 2 for usage errors).
const EXIT_FAILED: u8 = 1;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Layout: DIR/ca/ca.{key,crt}, DIR/gateway/{client.key,client.crt,client.pem,ca.crt}, \
DIR/plugins/<name>/{server.key,server.crt,ca.crt}. Existing identities are never overwritten without --force."
)]
pub struct Args {
    #[command(subcommand)]
    command: CertsCommand,
}

impl Args {
    /// `certs` never speaks the stdio transport.
    #[allow(dead_code)]
    pub fn wants_stdio(&self) -> bool {
        false
    }
}

#[derive(Debug, clap::Subcommand)]
enum CertsCommand {
    /// Create the CA (DIR/ca/ca.key, ca.crt) if it does not exist.
    Ca(IssueArgs),
    /// Create the gateway client certificate (clientAuth), creating the CA first if missing.
    Gateway {
        #[command(flatten)]
        issue: IssueArgs,
        /// URI SAN of the gateway certificate, repeatable: a SPIFFE ID such as
        /// spiffe://cluster.local/ns/mcp/sa/gateway, for the servers' allowed_clients.
        #[arg(long = "uri-san", value_name = "URI")]
        uri_sans: Vec<String>,
    },
    /// Revoke the certificate of NAME (`gateway` or a plugin name): add its serial number to
    /// DIR/ca/ca.crl (created if missing, earlier entries kept, signed by the CA). Point
    /// ca_crl (server_settings.tls / mcp.tls) at that file.
    Revoke {
        /// `gateway`, or the name of a plugin under DIR/plugins. Without it (and with
        /// --refresh) the CRL is only re-signed with fresh dates.
        #[arg(required_unless_present = "refresh")]
        name: Option<String>,
        /// Certificate directory.
        #[arg(long, value_name = "DIR", default_value = plugwire_certs::DEFAULT_DIR)]
        dir: PathBuf,
        /// Days until the CRL's nextUpdate (re-run revoke, or revoke --refresh, before then).
        #[arg(long, value_name = "N", default_value_t = plugwire_certs::DEFAULT_CRL_DAYS,
              value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
        /// Only re-sign the CRL with fresh dates (no NAME).
        #[arg(long, conflicts_with = "name")]
        refresh: bool,
    },
    /// Create the server certificate of one plugin (serverAuth; SANs NAME, mcp-plugin-NAME,
    /// localhost and every --san), creating the CA first if missing.
    Plugin {
        /// Plugin name: letters, digits, '_', '-', '.' (not first), every dot-separated part
        /// non-empty and not starting or ending with '-'; it becomes a directory, the CN
        /// mcp-plugin-NAME and two DNS SANs.
        name: String,
        #[command(flatten)]
        issue: IssueArgs,
        #[command(flatten)]
        sans: SanArgs,
    },
    /// Create the CA, the gateway certificate and one certificate per `kind: external` plugin
    /// of the config (in file order); the examples example-plugin-a/-b when the default config
    /// does not exist.
    All {
        #[command(flatten)]
        issue: IssueArgs,
        /// Plugins config to read the external plugin names from [default:
        /// plugins/external/config.yaml, with example-plugin-a and example-plugin-b when it
        /// does not exist]. A path given here must exist.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[command(flatten)]
        sans: SanArgs,
    },
    /// List every certificate with subject, expiry and days left; flag expired, soon-expiring
    /// and foreign-issuer certificates. Exit 0 all fine, 1 something expires within
    /// --warn-days, 2 expired / not yet valid / unreadable / missing / not issued by the CA.
    Check {
        /// Certificate directory.
        #[arg(long, value_name = "DIR", default_value = plugwire_certs::DEFAULT_DIR)]
        dir: PathBuf,
        /// Check mounted Kubernetes Secrets instead: DIR holds tls.crt, tls.key and ca.crt (one
        /// Secret), or one such subdirectory per Secret. Roles come from the key usages.
        #[arg(long, value_name = "DIR", conflicts_with = "dir")]
        k8s_dir: Option<PathBuf>,
        /// Warn (exit 1) when a certificate expires within this many days.
        #[arg(long, value_name = "N", default_value_t = plugwire_certs::DEFAULT_WARN_DAYS)]
        warn_days: u32,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print cert-manager resources (YAML) for Kubernetes: a self-signed bootstrap Issuer, the
    /// CA Certificate, the CA Issuer, the gateway's client Certificate and one server
    /// Certificate per `kind: external` plugin of the same config `all` reads.
    CertManager(CertManagerArgs),
}

#[derive(Debug, clap::Args)]
struct CertManagerArgs {
    /// Plugins config to read the external plugin names from [default:
    /// plugins/external/config.yaml, with example-plugin-a and example-plugin-b when it does
    /// not exist]. A path given here must exist.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Namespace of every resource; also adds the plugin Services' in-cluster DNS names
    /// (svc.NS, svc.NS.svc, svc.NS.svc.cluster.local) to the plugin certificates.
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Name of the CA Issuer that signs the gateway and plugin certificates.
    #[arg(long, value_name = "NAME", default_value = plugwire_certs::cert_manager::DEFAULT_ISSUER)]
    issuer: String,
    /// Key type of every key: rsa4096 or ecdsa-p256.
    #[arg(long, value_name = "TYPE", default_value = "rsa4096")]
    key_type: KeyType,
    /// URI SAN for the gateway certificate, e.g. spiffe://cluster.local/ns/mcp/sa/gateway.
    #[arg(long, value_name = "URI")]
    gateway_uri: Option<String>,
    /// Lifetime of the gateway and plugin certificates in days.
    #[arg(long, value_name = "N", default_value_t = plugwire_certs::cert_manager::DEFAULT_LEAF_DAYS)]
    days: u32,
    /// Renew the gateway and plugin certificates this many days before they expire.
    #[arg(long, value_name = "N", default_value_t = plugwire_certs::cert_manager::DEFAULT_RENEW_DAYS)]
    renew_days: u32,
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// Certificate directory (MCP_CERT_DIR in the Makefile).
    #[arg(long, value_name = "DIR", default_value = plugwire_certs::DEFAULT_DIR)]
    dir: PathBuf,
    /// Validity of new certificates in days (MCP_CERT_DAYS).
    #[arg(long, value_name = "N", default_value_t = plugwire_certs::DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(plugwire_certs::MAX_DAYS)))]
    days: u32,
    /// Key type of new keys: rsa4096 (RSA-4096 + SHA-256, takes seconds) or ecdsa-p256 (MCP_KEY_TYPE).
    #[arg(long, value_name = "TYPE", default_value = "rsa4096")]
    key_type: KeyType,
    /// Replace the requested identities even if they exist (`ca --force` and `all --force`
    /// also replace the CA).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct SanArgs {
    /// Extra subject alternative name for plugin certificates, repeatable:
    /// DNS:svc.ns.svc, IP:127.0.0.1 (so check_hostname works with an IP URL) or
    /// URI:spiffe://... (for a client's server_name pin).
    #[arg(long = "san", value_name = "DNS:NAME|IP:ADDR|URI:URI")]
    sans: Vec<San>,
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        CertsCommand::Check {
            dir,
            k8s_dir,
            warn_days,
            json,
        } => run_check(dir, k8s_dir, warn_days, json),
        CertsCommand::CertManager(args) => run_cert_manager(args),
        CertsCommand::Ca(issue) => run_issue(Request::ca(), issue, Vec::new()),
        CertsCommand::Gateway { issue, uri_sans } => {
            let sans: Result<Vec<San>, _> = uri_sans
                .iter()
                .map(|u| format!("URI:{u}").parse::<San>())
                .collect();
            match sans {
                Ok(sans) => run_gateway(issue, sans),
                Err(err) => fail(&err),
            }
        }
        CertsCommand::Revoke {
            name,
            dir,
            days,
            refresh: _,
        } => run_revoke(&dir, name.as_deref(), days),
        CertsCommand::Plugin { name, issue, sans } => {
            run_issue(Request::plugin(name), issue, sans.sans)
        }
        CertsCommand::All {
            issue,
            config,
            sans,
        } => {
            let source = ConfigSource::from_option(config);
            let list = match plugwire_certs::plugin_names(&source) {
                Ok(list) => list,
                Err(err) => return fail(&err),
            };
            let path = source.path().display();
            if list.examples {
                outln!(
                    "📋  {path} not found: generating certificates for the example plugins {}",
                    list.names.join(", ")
                );
            } else if list.names.is_empty() {
                outln!(
                    "📋  {path} has no `kind: external` plugins: no plugin certificates to create"
                );
            } else {
                outln!(
                    "📋  Plugins from {path} (kind: external): {}",
                    list.names.join(", ")
                );
            }
            run_issue(Request::all(&list.names), issue, sans.sans)
        }
    }
}

fn fail(err: &dyn std::error::Error) -> ExitCode {
    errln!("❌  plugwire certs: {err}");
    ExitCode::from(EXIT_FAILED)
}

fn run_gateway(args: IssueArgs, sans: Vec<San>) -> ExitCode {
    let options = Options {
        gateway_sans: sans,
        ..options(&args, Vec::new())
    };
    run_issue_with(Request::gateway(), args, options)
}

fn options(args: &IssueArgs, sans: Vec<San>) -> Options {
    Options {
        key_type: args.key_type,
        days: args.days,
        extra_sans: sans,
        force: args.force,
        ..Options::default()
    }
}

/// `certs revoke`: the CRL written, the serial, and the line to put in the configs.
fn run_revoke(dir: &std::path::Path, name: Option<&str>, days: u32) -> ExitCode {
    on_interrupt_undo_writes();
    match plugwire_certs::revoke(dir, name, days) {
        Ok(r) => {
            for message in &r.swept {
                errln!("⚠️   {message}");
            }
            match (&r.cert, &r.serial) {
                (Some(cert), Some(serial)) if r.already => outln!(
                    "🔁  {} (serial {serial}) was already revoked; {} re-signed",
                    cert.display(),
                    r.crl.display()
                ),
                (Some(cert), Some(serial)) => outln!(
                    "⛔  Revoked {} (serial {serial}) in {}",
                    cert.display(),
                    r.crl.display()
                ),
                _ => outln!("🔁  {} re-signed with fresh dates", r.crl.display()),
            }
            outln!(
                "    {} revoked certificate(s); next update {} (re-run before then: plugwire certs revoke --refresh)",
                r.entries,
                r.next_update.date()
            );
            outln!(
                "💡  Servers and gateways refuse revoked certificates when ca_crl (PLUGINS_SERVER_SSL_CA_CRL / PLUGINS_CLIENT_MTLS_CA_CRL) points at {}",
                r.crl.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

fn run_issue(request: Request, args: IssueArgs, sans: Vec<San>) -> ExitCode {
    let options = options(&args, sans);
    run_issue_with(request, args, options)
}

fn run_issue_with(request: Request, args: IssueArgs, options: Options) -> ExitCode {
    on_interrupt_undo_writes();
    let days = args.days;
    let slow = args.key_type.is_slow();
    let printer = move |event: &Event<'_>| print_event(event, days, slow);
    match plugwire_certs::issue(&args.dir, &request, &options, &printer) {
        Ok(summary) => {
            if request.ca && request.gateway {
                let created = summary
                    .outcomes
                    .iter()
                    .any(|(_, outcome)| *outcome != Outcome::Existing);
                outln!();
                if created {
                    outln!("🎯  MCP mTLS certificates are in {}:", args.dir.display());
                } else {
                    outln!(
                        "🎯  Nothing to do: every certificate exists in {}:",
                        args.dir.display()
                    );
                }
                outln!("    ca/ca.{{key,crt}}  gateway/client.{{key,crt,pem}} + ca.crt  plugins/<name>/server.{{key,crt}} + ca.crt");
                outln!("💡  More plugins: plugwire certs plugin NAME (make certs-mcp-plugin PLUGIN_NAME=NAME)");
                outln!("💡  Expiry: plugwire certs check (make certs-mcp-check)");
            }
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

fn describe(identity: &Identity) -> String {
    match identity {
        Identity::Ca => "CA".to_string(),
        Identity::Gateway => "gateway".to_string(),
        Identity::Plugin(name) => format!("plugin '{name}'"),
    }
}

/// Prints one event; key progress only for slow (RSA) keys.
fn print_event(event: &Event<'_>, days: u32, slow: bool) {
    match event {
        Event::CaMissing { ca_dir } => {
            outln!(
                "🔐  No CA in {}: creating it first (as make certs-mcp-ca would)",
                ca_dir.display()
            );
        }
        Event::KeygenStarted { count, key_type } if key_type.is_slow() => {
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(*count);
            outln!(
                "🔑  Generating {count} {} key{} on {threads} thread{} (RSA keys take a moment)...",
                key_type_label(*key_type),
                if *count == 1 { "" } else { "s" },
                if threads == 1 { "" } else { "s" },
            );
        }
        // Progress only matters for the slow key type; ECDSA keys are instant.
        Event::KeyReady {
            identity,
            done,
            total,
        } if slow => {
            outln!("    key {done}/{total} ready ({})", describe(identity));
        }
        Event::Written {
            identity,
            paths,
            outcome,
        } => {
            let verb = if *outcome == Outcome::Replaced {
                "replaced"
            } else {
                "created"
            };
            let dir = paths.dir.display();
            match identity {
                Identity::Ca => outln!("✅  MCP CA {verb}: {dir}/ca.{{key,crt}} ({days} days)"),
                Identity::Gateway => outln!(
                    "✅  Gateway client certificate {verb}: {dir}/ (client.key, client.crt, client.pem, ca.crt; {days} days)"
                ),
                Identity::Plugin(name) => outln!(
                    "✅  Plugin '{name}' certificate {verb}: {dir}/ (server.key, server.crt, ca.crt; {days} days)"
                ),
            }
        }
        Event::Exists {
            identity,
            paths,
            hint,
            expiry: None,
        } => {
            outln!(
                "🔐  Existing {} found in {} - skipping (to regenerate: {hint})",
                describe(identity),
                paths.dir.display()
            );
        }
        Event::Exists {
            identity,
            paths,
            hint,
            expiry: Some(expiry),
        } => {
            let soon = if expiry.expired {
                String::new()
            } else {
                format!(", within {} days", plugwire_certs::DEFAULT_WARN_DAYS)
            };
            outln!(
                "⚠️   Existing {} found in {} - skipping, but its certificate {expiry}{soon}: renew it with {hint}",
                describe(identity),
                paths.dir.display()
            );
        }
        Event::Completed { path } => outln!("➕  Added missing {}", path.display()),
        Event::Warning { message } => errln!("⚠️   {message}"),
        _ => {}
    }
}

/// From here on, SIGINT and SIGTERM undo what the run is writing (temporary files removed,
/// replaced files restored) before the process exits with 130 / 143, instead of killing it with
/// a private key in a temporary file. tokio's signal support (already a dependency) registers
/// the handlers in a thread of its own that waits for them, so the run itself stays synchronous.
/// Returns once the handlers are registered (or could not be: then the defaults stay).
fn on_interrupt_undo_writes() {
    use tokio::signal::unix::{signal, SignalKind};
    let (registered, wait_registered) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("certs-signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let (mut interrupt, mut terminate) = {
                let _entered = runtime.enter();
                (
                    signal(SignalKind::interrupt()).ok(),
                    signal(SignalKind::terminate()).ok(),
                )
            };
            drop(registered);
            if interrupt.is_none() && terminate.is_none() {
                return;
            }
            let (name, code) = runtime.block_on(async {
                let interrupted = async {
                    match interrupt.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let terminated = async {
                    match terminate.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = interrupted => ("SIGINT", 130),
                    _ = terminated => ("SIGTERM", 143),
                }
            });
            let undone = plugwire_certs::interrupt();
            let what = if undone.restored + undone.removed + undone.temporaries == 0 {
                "nothing had been written".to_string()
            } else {
                undone.summary()
            };
            errln!("❌  plugwire certs: interrupted by {name}: {what}");
            for failure in &undone.failures {
                errln!("⚠️   {failure}");
            }
            std::process::exit(code);
        });
    if spawned.is_ok() {
        // Ends when the thread drops its sender: registered, or given up.
        let _ = wait_registered.recv();
    }
}

fn key_type_label(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Rsa4096 => "RSA-4096",
        KeyType::EcdsaP256 => "ECDSA P-256",
    }
}

/// Runs `check` and maps its verdict to the documented exit codes.
fn run_check(dir: PathBuf, k8s_dir: Option<PathBuf>, warn_days: u32, json: bool) -> ExitCode {
    let options = CheckOptions {
        warn_days,
        now: None,
    };
    let report = match k8s_dir {
        Some(k8s_dir) => plugwire_certs::check_k8s(&k8s_dir, &options),
        None => plugwire_certs::check(&dir, &options),
    };
    if json {
        match serde_json::to_string_pretty(&report.to_json()) {
            Ok(text) => outln!("{text}"),
            Err(err) => return fail(&err),
        }
    } else {
        out!("{}", report.to_text());
    }
    ExitCode::from(report.exit_code)
}

/// Prints the cert-manager resources on stdout (only YAML there, so it can be piped to
/// `kubectl apply -f -`); the plugin list's origin goes to stderr.
fn run_cert_manager(args: CertManagerArgs) -> ExitCode {
    let source = ConfigSource::from_option(args.config);
    let list = match plugwire_certs::plugin_names(&source) {
        Ok(list) => list,
        Err(err) => return fail(&err),
    };
    if list.examples {
        errln!(
            "📋  {} not found: certificates for the example plugins {}",
            source.path().display(),
            list.names.join(", ")
        );
    }
    let options = CertManagerOptions {
        namespace: args.namespace,
        issuer: args.issuer,
        key_type: args.key_type,
        gateway_uri: args.gateway_uri,
        days: args.days,
        renew_days: args.renew_days,
    };
    match plugwire_certs::cert_manager_yaml(&list.names, &options) {
        Ok(yaml) => {
            out!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}
