//! Values the plugins YAML used to accept and that failed only later, or silently changed what
//! was served: a raw-socket entry's `timeout: 0` (every call "timed out after 0ns"), a boolean
//! where a number goes (`port: true` bound port 1), a `grpc.target` with a scheme or a port out
//! of range (four failed connects at the first call), and typos in the server and transport
//! blocks (`unix_socket_server_settings: {pth: …}` served on the shared default socket). Each
//! is now refused at load naming the key, or, for unknown keys, loaded and logged naming the key
//! in full, as the Python runtime still loads the file (docs/decisions.md #103-#105).

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::sync::{Arc, Mutex};

use plugwire_framework::*;

const FILE: &str = "conf/plugins.yaml";

fn load(yaml: &str) -> Result<Config, ConfigError> {
    Config::load_str(yaml, FILE, &EmptyEnv)
}

fn err(yaml: &str) -> String {
    match load(yaml) {
        Ok(_) => panic!("loaded, but should be refused:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

/// One external entry named `P` with the given transport section.
fn entry(section: &str) -> String {
    format!("plugins: [{{name: P, kind: external, {section}}}]")
}

/// `unix_socket.timeout` must be above 0 (and at most a day), as the server's `limits`
/// timeouts and the entry's own `timeout:` must; `reconnect_attempts: 0` (no retry) and
/// `reconnect_delay: 0` (no pause) stay valid, as they are for `mcp:` entries.
#[test]
fn a_socket_entry_timeout_of_zero_is_refused_and_zero_retries_are_not() {
    for (timeout, shown) in [
        ("0", "0"),
        ("0.0", "0"),
        ("'0'", "0"),
        ("-1", "-1"),
        ("86401", "86401"),
        ("1.0e+30", "1000000000000000000000000000000"),
    ] {
        let e = err(&entry(&format!(
            "unix_socket: {{path: /run/p.sock, timeout: {timeout}}}"
        )));
        let want = format!(
            "{FILE}: plugin 'P': key `unix_socket.timeout`: must be a number of seconds above 0 \
             (at most 86400), found {shown}"
        );
        assert_eq!(e, want, "timeout: {timeout}");
    }
    for (key, value, message) in [
        (
            "reconnect_delay",
            "-0.5",
            "must be a number of seconds from 0 (no pause) to 86400, found -0.5",
        ),
        (
            "reconnect_delay",
            "100000",
            "must be a number of seconds from 0 (no pause) to 86400, found 100000",
        ),
        (
            "reconnect_attempts",
            "-1",
            "must be 0 or more (0: no retry), found -1",
        ),
    ] {
        let e = err(&entry(&format!(
            "unix_socket: {{path: /run/p.sock, {key}: {value}}}"
        )));
        assert_eq!(
            e,
            format!("{FILE}: plugin 'P': key `unix_socket.{key}`: {message}"),
        );
    }
    // The neighbours: the smallest and largest timeouts, no retry and no pause.
    for (timeout, want) in [("0.001", 0.001), ("86400", 86_400.0), ("'2.5'", 2.5)] {
        let c = load(&entry(&format!(
            "unix_socket: {{path: /run/p.sock, timeout: {timeout}, reconnect_attempts: 0, reconnect_delay: 0}}"
        )))
        .unwrap();
        let u = c.plugins[0].unix_socket.as_ref().unwrap();
        assert_eq!(
            (u.timeout, u.reconnect_attempts, u.reconnect_delay),
            (want, 0, 0.0)
        );
    }
    let c = load(&entry("unix_socket: {path: /run/p.sock}")).unwrap();
    let u = c.plugins[0].unix_socket.as_ref().unwrap();
    assert_eq!(
        (u.timeout, u.reconnect_attempts, u.reconnect_delay),
        (30.0, 3, 0.1),
        "upstream's defaults"
    );
}

/// A boolean is refused wherever an integer or a number of seconds goes, naming the key; the
/// other lax forms (`"8000"`, `8000.0`, `" 9000 "`, and `1`/`"yes"` for a boolean) still load.
#[test]
fn a_boolean_is_not_a_port_a_count_or_a_limit() {
    for (yaml, at, found) in [
        (
            "server_settings: {port: true}",
            "key `server_settings.port`",
            "true",
        ),
        (
            "server_settings: {port: false}",
            "key `server_settings.port`",
            "false",
        ),
        (
            "grpc_server_settings: {port: true}",
            "key `grpc_server_settings.port`",
            "true",
        ),
        (
            "grpc_server_settings: {port: false}",
            "key `grpc_server_settings.port`",
            "false",
        ),
        (
            "server_settings: {limits: {max_connections: true}}",
            "key `server_settings.limits.max_connections`",
            "true",
        ),
        (
            "server_settings: {limits: {body_timeout: true}}",
            "key `server_settings.limits.body_timeout`",
            "true",
        ),
        (
            "server_settings: {tls: {ssl_cert_reqs: true}}",
            "key `server_settings.tls.ssl_cert_reqs`",
            "true",
        ),
        (
            "plugin_settings: {plugin_timeout: true}",
            "key `plugin_settings.plugin_timeout`",
            "true",
        ),
        (
            "plugin_settings: {execution_pool: false}",
            "key `plugin_settings.execution_pool`",
            "false",
        ),
        (
            "plugins: [{name: P, kind: k, priority: false}]",
            "plugin 'P': key `priority`",
            "false",
        ),
        (
            "plugins: [{name: P, kind: k, max_content_size: true}]",
            "plugin 'P': key `max_content_size`",
            "true",
        ),
        (
            &entry("unix_socket: {path: /run/p.sock, reconnect_attempts: true}"),
            "plugin 'P': key `unix_socket.reconnect_attempts`",
            "true",
        ),
        (
            &entry("unix_socket: {path: /run/p.sock, timeout: true}"),
            "plugin 'P': key `unix_socket.timeout`",
            "true",
        ),
        (
            &entry("mcp: {proto: STREAMABLEHTTP, url: 'https://h/mcp', reconnect_attempts: true}"),
            "plugin 'P': key `mcp.reconnect_attempts`",
            "true",
        ),
    ] {
        let e = err(yaml);
        let want = format!("{FILE}: {at}: expected ");
        assert!(e.starts_with(&want), "{yaml}\n  want: {want}\n  got:  {e}");
        assert!(
            e.contains(&format!("found the boolean {found}")),
            "{yaml}: {e}"
        );
    }
    let c = load(
        "server_settings: {port: '8000', limits: {max_connections: 64.0}}\n\
         grpc_server_settings: {port: ' 50052 '}\n\
         plugins:\n  - {name: P, kind: external, unix_socket: {path: /run/p.sock, reconnect_attempts: '2', timeout: 5}}\n  \
         - {name: M, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://h/mcp', tls: {verify: 1, check_hostname: 'no'}}}\n",
    )
    .unwrap();
    let s = c.server_settings.as_ref().unwrap();
    assert_eq!(s.port, Some(8000));
    assert_eq!(s.limits.as_ref().unwrap().max_connections, Some(64));
    assert_eq!(c.grpc_server_settings.as_ref().unwrap().port, Some(50052));
    assert_eq!(
        c.plugins[0]
            .unix_socket
            .as_ref()
            .unwrap()
            .reconnect_attempts,
        2
    );
    let tls = c.plugins[1].mcp.as_ref().unwrap().tls.as_ref().unwrap();
    assert_eq!(
        (tls.own.verify, tls.own.check_hostname),
        (Some(true), Some(false))
    );
}

/// `grpc.target` is `host:port` as plugwire's client connects to it: no `scheme://` (a URL or
/// grpcio's `dns:///`), none of grpcio's other resolver forms, a port from 1 to 65535. Each
/// refusal names the key and says the form expected; the forms the client does take load.
#[test]
fn a_grpc_target_must_be_host_and_port_without_a_scheme() {
    for (target, says) in [
        ("grpc://127.0.0.1:50051", "starts with the scheme `grpc://`"),
        (
            "grpcs://plugins.internal:50051",
            "starts with the scheme `grpcs://`",
        ),
        ("http://localhost:50051", "starts with the scheme `http://`"),
        ("dns:///localhost:50051", "starts with the scheme `dns://`"),
        (
            "dns:localhost:50051",
            "grpcio's `dns:` form is not taken by plugwire's client",
        ),
        ("ipv4:127.0.0.1:50051", "grpcio's `ipv4:` form"),
        ("unix:/run/plugins/grpc.sock", "grpcio's `unix:` form"),
        ("127.0.0.1:99999", "whose port \"99999\" is not 1..65535"),
        ("localhost:0", "whose port \"0\" is not 1..65535"),
        ("localhost:", "whose port \"\" is not 1..65535"),
        ("localhost:http", "whose port \"http\" is not 1..65535"),
        (
            "localhost:50051/cpex",
            "whose port \"50051/cpex\" is not 1..65535",
        ),
        (":50051", "which has no host"),
        ("localhost", "which has no `:port`"),
        ("::1", "write an IPv6 address in brackets"),
        ("::1:50051", "write an IPv6 address in brackets"),
        ("plugins internal:50051", "is not a host name or address"),
    ] {
        let e = err(&entry(&format!("grpc: {{target: '{target}'}}")));
        let want = format!(
            "{FILE}: plugin 'P': key `grpc.target`: must be host:port with a port from 1 to \
             65535 and no scheme, e.g. localhost:50051 or [::1]:50051 (TLS comes from `tls:`, a \
             Unix socket from `uds:`); found {target:?}"
        );
        assert!(
            e.starts_with(&want),
            "{target}\n  want: {want}\n  got:  {e}"
        );
        assert!(e.contains(says), "{target}: {e}");
    }
    for target in [
        "localhost:50051",
        "127.0.0.1:1",
        "plugins.internal:65535",
        "[::1]:50051",
        "dns:53",
        " localhost:50051 ",
    ] {
        let c = load(&entry(&format!("grpc: {{target: '{target}'}}")))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(
            c.plugins[0].grpc.as_ref().unwrap().target.as_deref(),
            Some(target)
        );
    }
}

/// A `tracing` subscriber that keeps each event's message and `key` field.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<(tracing::Level, String, String)>>>);

impl tracing::Subscriber for Recorded {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String, String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                match f.name() {
                    "message" => self.0 = format!("{v:?}"),
                    "key" => self.1 = format!("{v:?}"),
                    _ => {}
                }
            }
        }
        let mut fields = Fields(String::new(), String::new());
        event.record(&mut fields);
        let level = *event.metadata().level();
        self.0.lock().unwrap().push((level, fields.0, fields.1));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Typos in `server_settings`, `grpc_server_settings`, `unix_socket_server_settings`, their
/// `tls:` blocks and the entries' transport sections load (the Python runtime loads the file),
/// and each is listed and logged as a WARN naming the key in full and the keys read there.
/// `server_settings.limits` still refuses one.
#[test]
fn unknown_keys_in_server_and_transport_blocks_are_logged_by_full_path() {
    let text = "\
server_settings: {hots: 0.0.0.0, tls: {certfile: /c.pem, keyfile: /k.pem, ssl_cert_req: 0}}
grpc_server_settings: {prot: 0, tls: {certfile: /c.pem, keyfile: /k.pem, clientauth: none}}
unix_socket_server_settings: {pth: /run/x.sock}
plugins:
  - {name: U, kind: external, unix_socket: {path: /run/p.sock, timout: 5}}
  - {name: G, kind: external, grpc: {target: 'h:1', tls: {verfy: false}}}
  - {name: M, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://h/mcp', retries: 2, tls: {checkhostname: false}}}
";
    let recorded = Recorded::default();
    let c = tracing::subscriber::with_default(recorded.clone(), || load(text)).unwrap();
    let want = [
        "server_settings.hots",
        "server_settings.tls.ssl_cert_req",
        "grpc_server_settings.prot",
        "grpc_server_settings.tls.clientauth",
        "unix_socket_server_settings.pth",
        "plugins[0].unix_socket.timout",
        "plugins[1].grpc.tls.verfy",
        "plugins[2].mcp.retries",
        "plugins[2].mcp.tls.checkhostname",
    ];
    assert_eq!(c.unknown_keys, want);
    // Still ignored, as before: the defaults apply (which is why the WARN matters).
    let g = c.grpc_server_settings.as_ref().unwrap();
    assert_eq!(
        (g.port, &g.tls.as_ref().unwrap().own.client_auth),
        (None, &None)
    );
    assert_eq!(c.unix_socket_server_settings.as_ref().unwrap().path, None);

    let events = recorded.0.lock().unwrap().clone();
    let warned: Vec<&str> = events
        .iter()
        .filter(|(level, _, _)| *level == tracing::Level::WARN)
        .map(|(_, _, key)| key.as_str())
        .collect();
    assert_eq!(warned, want);
    let message = |key: &str| {
        events
            .iter()
            .find(|(_, _, k)| k == key)
            .map(|(_, m, _)| m.clone())
            .unwrap()
    };
    assert_eq!(
        message("unix_socket_server_settings.pth"),
        format!(
            "{FILE}: key `unix_socket_server_settings.pth`: unknown key, ignored as the Python \
             runtime ignores it (a typo?); the keys read here are `path`"
        )
    );
    let m = message("grpc_server_settings.tls.clientauth");
    assert!(
        m.starts_with(&format!(
            "{FILE}: key `grpc_server_settings.tls.clientauth`: unknown key"
        )) && m.contains("`client_auth`")
            && m.contains("`certfile`"),
        "{m}"
    );
    let m = message("grpc_server_settings.prot");
    assert!(m.ends_with("`host`, `port`, `uds`, `tls`"), "{m}");
    // In an entry, the key is named under the entry's name, as load errors name it.
    assert!(
        message("plugins[1].grpc.tls.verfy").starts_with(&format!(
            "{FILE}: plugin 'G': key `grpc.tls.verfy`: unknown key"
        )),
        "{events:?}"
    );

    // The neighbours: every key spelt right loads without a word.
    let recorded = Recorded::default();
    let c = tracing::subscriber::with_default(recorded.clone(), || {
        load(
            "server_settings: {host: 0.0.0.0, port: 8001, uds: null, limits: {drain_timeout: 5}, \
               tls: {certfile: /c.pem, keyfile: /k.pem, ca_bundle: /ca.pem, keyfile_password: x, ca_crl: /crl.pem, \
                     ssl_cert_reqs: 0, require_valid_certificate: true, allowed_clients: [gw]}}\n\
             grpc_server_settings: {host: h, port: 0, tls: {certfile: /c.pem, keyfile: /k.pem, client_auth: none, allowed_clients: [gw]}}\n\
             unix_socket_server_settings: {path: /run/x.sock}\n\
             plugins:\n  - {name: U, kind: external, unix_socket: {path: /run/p.sock, reconnect_attempts: 1, reconnect_delay: 0, timeout: 5}}\n  \
             - {name: G, kind: external, grpc: {target: 'h:1', tls: {certfile: /c.pem, keyfile: /k.pem, verify: false, server_name: s}}}\n  \
             - {name: M, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://h/mcp', reconnect_attempts: 2, reconnect_delay: 1, \
                 tls: {verify: true, check_hostname: false, server_name: s}}}\n",
        )
    })
    .unwrap();
    assert!(c.unknown_keys.is_empty(), "{:?}", c.unknown_keys);
    let events = recorded.0.lock().unwrap();
    assert!(
        !events
            .iter()
            .any(|(level, _, _)| *level == tracing::Level::WARN),
        "{events:?}"
    );

    let e = err("server_settings: {limits: {drian_timeout: 5}}");
    assert!(
        e.starts_with(&format!(
            "{FILE}: key `server_settings.limits.drian_timeout`: unknown key"
        )),
        "{e}"
    );
}
