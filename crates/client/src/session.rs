//! The MCP session over one transport: handshake (`initialize`, `notifications/initialized`,
//! `tools/list`), `tools/call`, and the recovery the Python 1.0.0 client lacks: after a lost
//! connection, a server restart or a 404 for a forgotten session, re-initialize and retry the call
//! once, backing off (bounded) while failures repeat.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use plugwire_mcp::{
    methods, CallToolResult, InitializeParams, InitializeResult, ListToolsResult, Message,
    Notification, ProtocolVersion, Request, RequestId, GET_PLUGIN_CONFIG, INVOKE_HOOK,
};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{Cause, ClientError};
use crate::http::RawBody;
use crate::retry::SharedFailure;

pub(crate) mod transport;

pub(crate) use transport::{call_tool_params, ToolReply, Transport};
use transport::{Exchange, Incoming, Outgoing, Reply};

/// Tools a plugin server must list for us to use it.
pub const REQUIRED_TOOLS: [&str; 2] = [GET_PLUGIN_CONFIG, INVOKE_HOOK];

/// Longest pause between recovery attempts when failures keep coming.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// What the handshake learned.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// Negotiated protocol version (`None` before the first handshake).
    pub protocol_version: Option<ProtocolVersion>,
    /// `serverInfo.name` as the server reported it.
    pub name: Option<String>,
    /// Tool names from `tools/list`.
    pub tools: Vec<String>,
}

/// One MCP session with a plugin server.
pub struct Session {
    plugin: String,
    transport: Transport,
    next_id: AtomicI64,
    /// Bumped at every successful (re-)handshake; a failed call re-initializes only if no other
    /// call already did it since the failing call started.
    generation: AtomicU64,
    reinit: tokio::sync::Mutex<ServerInfo>,
    consecutive_failures: AtomicU32,
    /// The last re-initialization failed, so there is no usable session: the next call
    /// re-initializes before sending (else it would go out without a session id).
    broken: AtomicBool,
    /// Re-initializations that failed in a way a new connection may heal: shared with the
    /// calls that waited for them (see [`Session::recover`]).
    recovery_failures: SharedFailure,
    timeout: Duration,
    start: StartPolicy,
}

/// How hard a handshake tries, at start-up and when a lost session is re-established: the
/// entry's `mcp.reconnect_attempts` and `mcp.reconnect_delay` (1.0.0 keys; linear backoff
/// `delay × attempt`, as Python does at start-up).
#[derive(Debug, Clone, Copy)]
pub struct StartPolicy {
    /// Handshake attempts in one sequence (at least 1).
    pub attempts: u32,
    /// Base pause between attempts.
    pub delay: Duration,
}

impl Default for StartPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            delay: Duration::from_millis(100),
        }
    }
}

impl StartPolicy {
    /// From `mcp.reconnect_attempts` / `mcp.reconnect_delay`, clamped to sane bounds
    /// (1..=20 attempts, 0..=30 s) so a typo cannot stall a gateway's start for hours.
    pub fn from_config(attempts: i64, delay_secs: f64) -> Self {
        let attempts = attempts.clamp(1, 20) as u32;
        let delay = if delay_secs.is_finite() && delay_secs > 0.0 {
            Duration::from_secs_f64(delay_secs.min(30.0))
        } else {
            Duration::ZERO
        };
        Self { attempts, delay }
    }
}

impl Session {
    pub(crate) fn new(
        plugin: String,
        transport: Transport,
        timeout: Duration,
        start: StartPolicy,
    ) -> Self {
        Self {
            plugin,
            transport,
            next_id: AtomicI64::new(0),
            generation: AtomicU64::new(0),
            reinit: tokio::sync::Mutex::new(ServerInfo::default()),
            consecutive_failures: AtomicU32::new(0),
            broken: AtomicBool::new(false),
            recovery_failures: SharedFailure::default(),
            timeout,
            start,
        }
    }

    /// The endpoint, for messages.
    pub fn url(&self) -> &str {
        self.transport.display()
    }

    /// The `mcp-session-id` the server issued (HTTP servers that keep sessions; `None` for
    /// stateless servers such as `plugwire serve`, and for stdio).
    pub fn session_id(&self) -> Option<String> {
        match &self.transport {
            Transport::Http(t) => t.session_id(),
            Transport::Stdio(_) => None,
        }
    }

    /// What the last handshake learned.
    pub async fn server_info(&self) -> ServerInfo {
        self.reinit.lock().await.clone()
    }

    /// Request params as JSON (the mcp types always serialize; the error is for completeness).
    fn params(&self, method: &str, params: &impl Serialize) -> Result<Value, ClientError> {
        serde_json::to_value(params).map_err(|e| {
            ClientError::config_caused(
                &self.plugin,
                format!("cannot serialize the {method} params: {e}"),
                Cause::from(e),
            )
        })
    }

    /// One JSON-RPC request → the `result` value; JSON-RPC errors and missing answers are typed.
    async fn rpc(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let request = Request::new(RequestId::from(0), method, Some(params));
        match self
            .rpc_with(method, &mut Outgoing::Request(request))
            .await?
        {
            Incoming::Reply(reply) => self.settle(method, Some(reply), None),
            Incoming::Body(body, id) => self.body_reply(method, &body, &id),
        }
    }

    /// Sends `outgoing` under a fresh id, within the timeout. It is lent rather than given: a
    /// retry re-sends the same params without a deep copy of the payload on every call.
    async fn rpc_with(
        &self,
        method: &str,
        outgoing: &mut Outgoing<'_>,
    ) -> Result<Incoming, ClientError> {
        let id = RequestId::from(self.next_id.fetch_add(1, Ordering::Relaxed));
        let exchange = tokio::time::timeout(
            self.timeout,
            self.transport.exchange(method, outgoing, &id, &self.plugin),
        );
        match exchange.await {
            Err(_) => Err(ClientError::timeout(
                &self.plugin,
                self.url(),
                method,
                self.timeout,
            )),
            Ok(Err(Exchange::Error(e))) => Err(e),
            Ok(Err(Exchange::NoResponse)) => self
                .settle(method, None, Some(&id))
                .map(|v| Incoming::Reply(Ok(v))),
            Ok(Ok(incoming)) => Ok(incoming),
        }
    }

    /// The reply (or its absence, for `id`) as the `result` value or a typed error.
    fn settle(
        &self,
        method: &str,
        reply: Option<Reply>,
        id: Option<&RequestId>,
    ) -> Result<Value, ClientError> {
        let Some(reply) = reply else {
            let id = id.map(ToString::to_string).unwrap_or_default();
            return Err(ClientError::malformed(
                &self.plugin,
                self.url(),
                method,
                format!("no JSON-RPC response with id {id} in the answer"),
                None,
            ));
        };
        reply.map_err(|error| {
            ClientError::rpc(&self.plugin, self.url(), method, error.code, error.message)
        })
    }

    /// An HTTP body parsed as the generic path does: its messages, the reply to `id`.
    fn body_reply(
        &self,
        method: &str,
        body: &RawBody,
        id: &RequestId,
    ) -> Result<Value, ClientError> {
        let Transport::Http(t) = &self.transport else {
            return self.settle(method, None, Some(id));
        };
        let reply = t
            .parse_answer(method, body)?
            .messages
            .into_iter()
            .find_map(|m| m.into_reply_to(id));
        self.settle(method, reply, Some(id))
    }

    async fn notify(&self, method: &str) -> Result<(), ClientError> {
        let message = Message::Notification(Notification::new(method, None));
        match tokio::time::timeout(self.timeout, self.transport.notify(method, message)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::timeout(
                &self.plugin,
                self.url(),
                method,
                self.timeout,
            )),
        }
    }

    /// `initialize` → `notifications/initialized` → `tools/list`, checking the server is a
    /// plugin server. Called at start and after every recovery. Over HTTP, calls that start
    /// meanwhile wait for it to end (see `HttpTransport::session_for`).
    async fn handshake(&self) -> Result<ServerInfo, ClientError> {
        let result = self.handshake_steps().await;
        if let Transport::Http(t) = &self.transport {
            t.handshake_over(result.is_ok());
        }
        result
    }

    /// The handshake's messages and checks.
    async fn handshake_steps(&self) -> Result<ServerInfo, ClientError> {
        self.transport.reset().await;
        // We offer the newest version, as the Python client does.
        let offer = InitializeParams::new(
            ProtocolVersion::LATEST,
            "plugwire",
            env!("CARGO_PKG_VERSION"),
        );
        let params = self.params(methods::INITIALIZE, &offer)?;
        let answer = self.rpc(methods::INITIALIZE, params).await?;
        let answer: InitializeResult = serde_json::from_value(answer).map_err(|e| {
            self.not_plugin_server(format!("its initialize answer does not decode: {e}"))
        })?;
        let version = answer.version().map_err(|_| {
            self.not_plugin_server(format!(
                "it answered initialize with protocol version {:?}; supported: {}",
                answer.protocol_version,
                ProtocolVersion::supported_list()
            ))
        })?;
        if let Transport::Http(t) = &self.transport {
            t.set_protocol_version(version);
        }
        self.notify(methods::INITIALIZED).await?;
        let listed = self.rpc(methods::TOOLS_LIST, json!({})).await?;
        let listed: ListToolsResult = serde_json::from_value(listed).map_err(|e| {
            self.not_plugin_server(format!("its tools/list answer does not decode: {e}"))
        })?;
        let tools: Vec<String> = listed.names().map(str::to_string).collect();
        let missing: Vec<&str> = REQUIRED_TOOLS
            .iter()
            .copied()
            .filter(|t| !tools.iter().any(|have| have == t))
            .collect();
        if !missing.is_empty() {
            return Err(self.not_plugin_server(format!(
                "tools/list lacks {} (it lists: {})",
                missing.join(", "),
                if tools.is_empty() {
                    "nothing".to_string()
                } else {
                    tools.join(", ")
                }
            )));
        }
        Ok(ServerInfo {
            protocol_version: Some(version),
            name: Some(answer.server_info.name).filter(|n| !n.is_empty()),
            tools,
        })
    }

    fn not_plugin_server(&self, message: String) -> ClientError {
        ClientError::not_plugin_server(&self.plugin, self.url(), message, None)
    }

    /// The first handshake (plugin start-up). Transient failures (refused, reset) are retried up
    /// to `StartPolicy::attempts` times in all, pausing `delay × attempt`; TLS and protocol
    /// failures are reported at once.
    pub async fn connect(&self) -> Result<ServerInfo, ClientError> {
        let mut guard = self.reinit.lock().await;
        let info = self.handshake_retrying().await?;
        *guard = info.clone();
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(info)
    }

    /// The handshake, tried again after a failure a new connection may heal (refused, dropped,
    /// session forgotten): `mcp.reconnect_attempts` attempts in all, pausing
    /// `mcp.reconnect_delay` × attempt. Called with the re-initialization lock held, so calls
    /// that need a session wait for this one sequence.
    async fn handshake_retrying(&self) -> Result<ServerInfo, ClientError> {
        let attempts = self.start.attempts;
        let log = |e: &ClientError, attempt: u32| {
            tracing::warn!(plugin = %self.plugin, "connect attempt {attempt} of {attempts} failed: {e}; retrying");
        };
        let retries = attempts.saturating_sub(1);
        crate::retry::linear(
            retries,
            self.start.delay,
            || self.handshake(),
            ClientError::is_recoverable,
            log,
        )
        .await
        .map_err(|(e, _)| e)
    }

    /// Re-initializes unless another call already did since `seen_generation`. A server that
    /// restarts within the attempts of [`Session::handshake_retrying`] is bridged. Calls that
    /// waited for a re-initialization that failed that way (the server is still away) fail at
    /// once with its words, so a server that is down gets one sequence of attempts, not one
    /// per waiting call in a row.
    async fn recover(&self, seen_generation: u64) -> Result<(), ClientError> {
        let failed_before = self.recovery_failures.seen();
        let mut guard = self.reinit.lock().await;
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return Ok(());
        }
        if let Some(words) = self.recovery_failures.since(failed_before) {
            let detail = format!("the MCP session could not be re-established: {words}");
            return Err(ClientError::lost(
                &self.plugin,
                self.transport.display(),
                detail,
                None,
            ));
        }
        crate::metrics::reconnect(&self.plugin);
        match self.handshake_retrying().await {
            Ok(info) => {
                *guard = info;
                self.broken.store(false, Ordering::Release);
                self.generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                self.broken.store(true, Ordering::Release);
                if e.is_recoverable() {
                    self.recovery_failures.record(e.detail());
                }
                Err(e)
            }
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        if failures <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (failures - 2).min(6);
        (BASE_BACKOFF * factor).min(MAX_BACKOFF)
    }

    /// `tools/call name(arguments)` → the tool's result, with one recovery attempt.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, ClientError> {
        let request = Request::new(
            RequestId::from(0),
            methods::TOOLS_CALL,
            Some(call_tool_params(name, arguments)),
        );
        match self.call_with_recovery(Outgoing::Request(request)).await? {
            Incoming::Reply(reply) => {
                self.to_call_result(self.settle(methods::TOOLS_CALL, Some(reply), None)?)
            }
            Incoming::Body(body, id) => self.body_to_result(&body, &id),
        }
    }

    /// `tools/call name(arguments)` with the arguments object as JSON bytes, with one recovery
    /// attempt. Over HTTP the answer is the body itself, for the caller to decode.
    pub(crate) async fn call_tool_bytes(
        &self,
        name: &str,
        arguments: &[u8],
    ) -> Result<ToolReply, ClientError> {
        match self
            .call_with_recovery(Outgoing::ToolCall { name, arguments })
            .await?
        {
            Incoming::Reply(reply) => {
                let value = self.settle(methods::TOOLS_CALL, Some(reply), None)?;
                self.to_call_result(value).map(ToolReply::Result)
            }
            Incoming::Body(body, id) => Ok(ToolReply::Body(body, id)),
        }
    }

    /// A `tools/call` answer body decoded the generic way (messages, the reply to `id`, the
    /// `CallToolResult`), with the errors [`Session::call_tool`] gives.
    pub(crate) fn body_to_result(
        &self,
        body: &RawBody,
        id: &RequestId,
    ) -> Result<CallToolResult, ClientError> {
        let value = self.body_reply(methods::TOOLS_CALL, body, id)?;
        self.to_call_result(value)
    }

    fn to_call_result(&self, result: Value) -> Result<CallToolResult, ClientError> {
        serde_json::from_value(result).map_err(|e| {
            ClientError::malformed(
                &self.plugin,
                self.url(),
                methods::TOOLS_CALL,
                format!("the result is not an MCP CallToolResult: {e}"),
                Cause::from(e),
            )
        })
    }

    async fn call_with_recovery(
        &self,
        mut outgoing: Outgoing<'_>,
    ) -> Result<Incoming, ClientError> {
        let mut generation = self.generation.load(Ordering::Acquire);
        if self.broken.load(Ordering::Acquire) {
            let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
            let pause = self.backoff(failures);
            tracing::info!(plugin = %self.plugin, "no MCP session since the last failure; re-initializing (pause {pause:?})");
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            self.recover(generation).await?;
            generation = self.generation.load(Ordering::Acquire);
        }
        match self.rpc_with(methods::TOOLS_CALL, &mut outgoing).await {
            Ok(v) => {
                self.clear_failures();
                Ok(v)
            }
            Err(first) if first.is_recoverable() => {
                let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                let pause = self.backoff(failures);
                tracing::warn!(plugin = %self.plugin, "{first}; re-initializing the MCP session and retrying once (pause {pause:?})");
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                self.recover(generation).await?;
                let result = self.rpc_with(methods::TOOLS_CALL, &mut outgoing).await;
                if result.is_ok() {
                    self.clear_failures();
                }
                result
            }
            Err(e) => Err(e),
        }
    }

    /// Resets the failure count after a success. Read first: concurrent calls on other threads
    /// then share the cache line instead of taking it from each other on every call.
    fn clear_failures(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Ends the session (DELETE for HTTP sessions that have an id; stops a stdio child).
    pub async fn close(&self) {
        match &self.transport {
            Transport::Http(t) => t.close(self.timeout.min(Duration::from_secs(5))).await,
            Transport::Stdio(t) => t.reset().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::StdioTransport;

    #[test]
    fn start_policy_is_clamped() {
        let p = StartPolicy::from_config(0, -1.0);
        assert_eq!((p.attempts, p.delay), (1, Duration::ZERO));
        let p = StartPolicy::from_config(1000, 1e9);
        assert_eq!((p.attempts, p.delay), (20, Duration::from_secs(30)));
        let p = StartPolicy::from_config(3, 0.1);
        assert_eq!((p.attempts, p.delay), (3, Duration::from_millis(100)));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let stats = crate::ConnectionStats::new();
        let t = StdioTransport::new(
            "p".into(),
            crate::stdio::StdioSpec::from_script("x.sh"),
            stats,
            1024,
        );
        let s = Session::new(
            "p".into(),
            Transport::Stdio(t),
            Duration::from_secs(1),
            StartPolicy::default(),
        );
        assert_eq!(s.backoff(1), Duration::ZERO);
        assert_eq!(s.backoff(2), BASE_BACKOFF);
        assert_eq!(s.backoff(3), BASE_BACKOFF * 2);
        assert!(s.backoff(4) > s.backoff(3));
        assert_eq!(s.backoff(50), MAX_BACKOFF);
    }
}
