//! Every environment variable plugwire reads, in one place (linkerd2-proxy habit): a reader of
//! this module sees the whole surface; code never spells a name twice.

// ---- plugwire serve: MCP over HTTP (`server_settings`) ----
/// Bind address of `plugwire serve`.
pub const PLUGINS_SERVER_HOST: &str = "PLUGINS_SERVER_HOST";
/// TCP port of `plugwire serve` (1-65535).
pub const PLUGINS_SERVER_PORT: &str = "PLUGINS_SERVER_PORT";
/// Unix socket path; excludes TLS.
pub const PLUGINS_SERVER_UDS: &str = "PLUGINS_SERVER_UDS";
/// Turns server TLS on (`true`) or off (`false`, even if the YAML has `tls`).
pub const PLUGINS_SERVER_SSL_ENABLED: &str = "PLUGINS_SERVER_SSL_ENABLED";
/// Server private key file.
pub const PLUGINS_SERVER_SSL_KEYFILE: &str = "PLUGINS_SERVER_SSL_KEYFILE";
/// Server certificate (chain) file.
pub const PLUGINS_SERVER_SSL_CERTFILE: &str = "PLUGINS_SERVER_SSL_CERTFILE";
/// CA bundle that client certificates must chain to.
pub const PLUGINS_SERVER_SSL_CA_CERTS: &str = "PLUGINS_SERVER_SSL_CA_CERTS";
/// Client certificate policy: 0 none, 1 optional, 2 required.
pub const PLUGINS_SERVER_SSL_CERT_REQS: &str = "PLUGINS_SERVER_SSL_CERT_REQS";
/// Password of an encrypted PKCS#8 server key.
pub const PLUGINS_SERVER_SSL_KEYFILE_PASSWORD: &str = "PLUGINS_SERVER_SSL_KEYFILE_PASSWORD";
/// `true`: refuse to start (and to reload) with an expired or not-yet-valid server certificate.
pub const PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT: &str = "PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT";
/// Client identities allowed to call, comma-separated (DNS name, `spiffe://` ID, CN; wildcards).
pub const PLUGINS_SERVER_SSL_ALLOWED_CLIENTS: &str = "PLUGINS_SERVER_SSL_ALLOWED_CLIENTS";
/// CRL file (PEM or DER) checked for every client certificate.
pub const PLUGINS_SERVER_SSL_CA_CRL: &str = "PLUGINS_SERVER_SSL_CA_CRL";
/// Request body limit in bytes (default 16 MiB); `--max-body-bytes` wins.
pub const PLUGINS_SERVER_MAX_BODY_BYTES: &str = "PLUGINS_SERVER_MAX_BODY_BYTES";
/// Extra accepted Host names, comma-separated (`name`, `name:port`, `name:*`).
pub const PLUGINS_SERVER_ALLOWED_HOSTS: &str = "PLUGINS_SERVER_ALLOWED_HOSTS";

// ---- plugwire serve: which transports ----
/// Transports to serve: `http`, `stdio`, `grpc`, `unix`, or a comma list (`http,grpc`).
pub const PLUGINS_TRANSPORT: &str = "PLUGINS_TRANSPORT";

// ---- plugwire serve: gRPC (`grpc_server_settings`) ----
/// gRPC bind address.
pub const PLUGINS_GRPC_SERVER_HOST: &str = "PLUGINS_GRPC_SERVER_HOST";
/// gRPC TCP port (default 50051).
pub const PLUGINS_GRPC_SERVER_PORT: &str = "PLUGINS_GRPC_SERVER_PORT";
/// gRPC over a Unix socket instead of TCP.
pub const PLUGINS_GRPC_SERVER_UDS: &str = "PLUGINS_GRPC_SERVER_UDS";
/// Turns gRPC server TLS on or off.
pub const PLUGINS_GRPC_SERVER_SSL_ENABLED: &str = "PLUGINS_GRPC_SERVER_SSL_ENABLED";
/// gRPC server certificate (chain) file.
pub const PLUGINS_GRPC_SERVER_SSL_CERTFILE: &str = "PLUGINS_GRPC_SERVER_SSL_CERTFILE";
/// gRPC server private key file.
pub const PLUGINS_GRPC_SERVER_SSL_KEYFILE: &str = "PLUGINS_GRPC_SERVER_SSL_KEYFILE";
/// CA bundle gRPC client certificates must chain to.
pub const PLUGINS_GRPC_SERVER_SSL_CA_CERTS: &str = "PLUGINS_GRPC_SERVER_SSL_CA_CERTS";
/// Password of an encrypted PKCS#8 gRPC server key.
pub const PLUGINS_GRPC_SERVER_SSL_KEYFILE_PASSWORD: &str =
    "PLUGINS_GRPC_SERVER_SSL_KEYFILE_PASSWORD";
/// gRPC client certificate policy: `none`, `optional` or `require` (any case).
pub const PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH: &str = "PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH";
/// gRPC client identities allowed to call, comma-separated.
pub const PLUGINS_GRPC_SERVER_SSL_ALLOWED_CLIENTS: &str = "PLUGINS_GRPC_SERVER_SSL_ALLOWED_CLIENTS";
/// CRL file checked for every gRPC client certificate.
pub const PLUGINS_GRPC_SERVER_SSL_CA_CRL: &str = "PLUGINS_GRPC_SERVER_SSL_CA_CRL";

// ---- plugwire serve: raw Unix socket (`unix_socket_server_settings`) ----
/// Path of the raw Unix-socket transport.
pub const PLUGINS_UNIX_SOCKET_PATH: &str = "PLUGINS_UNIX_SOCKET_PATH";
/// Older spelling of [`PLUGINS_UNIX_SOCKET_PATH`], read when that one is unset.
pub const UNIX_SOCKET_PATH: &str = "UNIX_SOCKET_PATH";

// ---- gateway side: MCP client (`mcp.tls`) ----
/// Gateway client certificate file (or cert+key bundle).
pub const PLUGINS_CLIENT_MTLS_CERTFILE: &str = "PLUGINS_CLIENT_MTLS_CERTFILE";
/// Gateway client private key file.
pub const PLUGINS_CLIENT_MTLS_KEYFILE: &str = "PLUGINS_CLIENT_MTLS_KEYFILE";
/// CA bundle plugin server certificates must chain to.
pub const PLUGINS_CLIENT_MTLS_CA_BUNDLE: &str = "PLUGINS_CLIENT_MTLS_CA_BUNDLE";
/// `false` accepts any server certificate (dangerous).
pub const PLUGINS_CLIENT_MTLS_VERIFY: &str = "PLUGINS_CLIENT_MTLS_VERIFY";
/// `false` verifies the chain but not the host name.
pub const PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME: &str = "PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME";
/// Password of an encrypted PKCS#8 client key.
pub const PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD: &str = "PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD";
/// Identity the plugin server's certificate must carry (DNS SAN or URI SAN), checked instead
/// of the URL host.
pub const PLUGINS_CLIENT_MTLS_SERVER_NAME: &str = "PLUGINS_CLIENT_MTLS_SERVER_NAME";
/// CRL file checked for every plugin server certificate.
pub const PLUGINS_CLIENT_MTLS_CA_CRL: &str = "PLUGINS_CLIENT_MTLS_CA_CRL";

// ---- gateway side: gRPC client (`grpc.tls`) ----
/// Gateway gRPC client certificate file.
pub const PLUGINS_GRPC_CLIENT_MTLS_CERTFILE: &str = "PLUGINS_GRPC_CLIENT_MTLS_CERTFILE";
/// Gateway gRPC client private key file.
pub const PLUGINS_GRPC_CLIENT_MTLS_KEYFILE: &str = "PLUGINS_GRPC_CLIENT_MTLS_KEYFILE";
/// CA bundle gRPC plugin server certificates must chain to.
pub const PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE: &str = "PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE";
/// Password of an encrypted PKCS#8 gRPC client key.
pub const PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD: &str =
    "PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD";
/// `false` accepts any gRPC server certificate (dangerous).
pub const PLUGINS_GRPC_CLIENT_MTLS_VERIFY: &str = "PLUGINS_GRPC_CLIENT_MTLS_VERIFY";
/// Identity the gRPC plugin server's certificate must carry (DNS SAN or URI SAN).
pub const PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME: &str = "PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME";
/// CRL file checked for every gRPC plugin server certificate.
pub const PLUGINS_GRPC_CLIENT_MTLS_CA_CRL: &str = "PLUGINS_GRPC_CLIENT_MTLS_CA_CRL";

// ---- plugins YAML ----
/// The plugin server's plugins YAML.
pub const PLUGINS_CONFIG_PATH: &str = "PLUGINS_CONFIG_PATH";
/// The gateway side's plugins YAML.
pub const PLUGINS_CONFIG_FILE: &str = "PLUGINS_CONFIG_FILE";
/// Per-plugin timeout override in seconds.
pub const PLUGINS_PLUGIN_TIMEOUT: &str = "PLUGINS_PLUGIN_TIMEOUT";
/// Size limit of the plugins YAML in bytes (default 4 MiB), so `/dev/zero` is refused at once.
pub const PLUGINS_CONFIG_MAX_BYTES: &str = "PLUGINS_CONFIG_MAX_BYTES";

// ---- plugin manager (`plugin_settings`; the variable wins over the YAML) ----
/// Turns a plugin's load/initialize failure into a start-up error (1.1.0: load time only; with
/// the 1.0.x switch also every run-time error, as in 1.0.0).
pub const PLUGINS_FAIL_ON_PLUGIN_ERROR: &str = "PLUGINS_FAIL_ON_PLUGIN_ERROR";
/// Bound on concurrently running `concurrent` plugins of one call, and on queued/running
/// `fire_and_forget` tasks of the manager; 0 = unbounded.
pub const PLUGINS_EXECUTION_POOL: &str = "PLUGINS_EXECUTION_POOL";
/// The 1.0.x switch: `1.0` for ContextForge 1.0.x semantics, `1.1` (default) for 1.1.0.
pub const PLUGINS_COMPAT: &str = "PLUGINS_COMPAT";

// ---- logging ----
/// A `tracing` filter (wins over [`LOG_LEVEL`]).
pub const RUST_LOG: &str = "RUST_LOG";
/// `DEBUG`, `INFO`, `WARNING`, `ERROR` (the Python runtime's variable).
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// Log line format: `text` (default) or `json` (one JSON object per line, for log pipelines).
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// Upstream's switch for `/metrics/prometheus` (anything but `true` turns metrics off).
pub const ENABLE_METRICS: &str = "ENABLE_METRICS";

/// The MCP server's variables, for docs and diagnostics.
pub const SERVER: [&str; 12] = [
    PLUGINS_SERVER_HOST,
    PLUGINS_SERVER_PORT,
    PLUGINS_SERVER_UDS,
    PLUGINS_SERVER_SSL_ENABLED,
    PLUGINS_SERVER_SSL_KEYFILE,
    PLUGINS_SERVER_SSL_CERTFILE,
    PLUGINS_SERVER_SSL_CA_CERTS,
    PLUGINS_SERVER_SSL_CERT_REQS,
    PLUGINS_SERVER_SSL_KEYFILE_PASSWORD,
    PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT,
    PLUGINS_SERVER_SSL_ALLOWED_CLIENTS,
    PLUGINS_SERVER_SSL_CA_CRL,
];
/// The MCP client's variables, for docs and diagnostics.
pub const CLIENT: [&str; 8] = [
    PLUGINS_CLIENT_MTLS_CERTFILE,
    PLUGINS_CLIENT_MTLS_KEYFILE,
    PLUGINS_CLIENT_MTLS_CA_BUNDLE,
    PLUGINS_CLIENT_MTLS_VERIFY,
    PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME,
    PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD,
    PLUGINS_CLIENT_MTLS_SERVER_NAME,
    PLUGINS_CLIENT_MTLS_CA_CRL,
];
/// The gRPC client's variables.
pub const GRPC_CLIENT: [&str; 7] = [
    PLUGINS_GRPC_CLIENT_MTLS_CERTFILE,
    PLUGINS_GRPC_CLIENT_MTLS_KEYFILE,
    PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE,
    PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD,
    PLUGINS_GRPC_CLIENT_MTLS_VERIFY,
    PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME,
    PLUGINS_GRPC_CLIENT_MTLS_CA_CRL,
];
