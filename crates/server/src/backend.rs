//! What the transports need from the plugins: the config dump and single-plugin hook calls.
//!
//! MCP (HTTP, stdio), gRPC and the raw socket only see this trait, so they are tested with small fakes (a
//! panicking or hanging plugin) and run in production over the framework's `PluginManager`
//! ([`crate::ManagerBackend`]).

use plugwire_framework::{HookPayload, HookType, PluginContext};
use plugwire_grpc::answer::Encoded;
use plugwire_grpc::convert::{context_to_json, MissingField};
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::structs::from_struct_owned;
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use serde_json::Value;

/// A hook call decoded in one read of the request ([`Backend::decode_call`]): the hook parsed,
/// the payload and context in the framework's models. Both boxed, and kept boxed down to the
/// plugin's call: the call passes through several layers of futures (metrics, reload, the
/// manager), and moving the models themselves through each was more copying than the one
/// read saved (profiled).
pub type DecodedCall<'a> =
    plugwire_mcp::DecodedInvokeHookCall<'a, (HookType, Box<HookPayload>), Box<PluginContext>>;

/// The plugin side of the three tools.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every plugin entry of the server's config, as the Python `PluginConfig.model_dump()`.
    fn plugin_configs(&self) -> Vec<Value>;

    /// One entry by name, case-insensitively; `None` when unknown.
    fn plugin_config(&self, name: &str) -> Option<Value> {
        // Python compares `name.lower()`: Unicode-aware, not ASCII-only.
        let wanted = name.to_lowercase();
        self.plugin_configs().into_iter().find(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_lowercase() == wanted)
        })
    }

    /// Runs one hook of one plugin (no chain, no conditions) and writes the answer's text, the
    /// pretty JSON of an [`plugwire_mcp::InvokeHookResponse`] (`{plugin_name, result,
    /// context?}` or `{plugin_name, error}`), into `out`. Every failure (unknown plugin or hook,
    /// bad payload or context, plugin error, timeout) is an `error` answer, never a panic.
    ///
    /// The entry point of the transports that hold the request as JSON text (MCP over HTTP and
    /// stdio). The payload and context arrive as text so that a backend decodes them straight
    /// into its own types and writes its result straight into the response, with no `Value`
    /// in between.
    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter);

    /// The whole `tools/call invoke_hook` request `body` decoded in one read, payload and
    /// context included, by a backend that has typed models for them (the plugin manager);
    /// `None` (the default, and for any body that read does not take) leaves the request to
    /// [`Backend::invoke_hook`] through [`plugwire_mcp::InvokeHookCall::parse`]. Same answers
    /// either way: the one read accepts only what the other path would decode alike.
    fn decode_call<'a>(&self, body: &'a [u8]) -> Option<DecodedCall<'a>> {
        let _ = body;
        None
    }

    /// Runs a call [`Backend::decode_call`] decoded, writing the answer text as
    /// [`Backend::invoke_hook`] does. Only called with this backend's own decoded calls; the
    /// default (for a backend that decodes none) says so in an `error` answer.
    async fn invoke_decoded(&self, call: DecodedCall<'_>, out: &mut TextResultWriter) {
        let what = "this backend does not take decoded calls";
        out.push_str(&InvokeHookResponse::failure_message(&call.plugin_name, what).to_text());
    }

    /// The same call for the transports that hold the payload and context as decoded JSON
    /// objects (gRPC and the raw socket, whose messages carry `google.protobuf.Struct`s, go
    /// through [`crate::dispatch::invoke_hook_args`]): the answer comes back as the value the
    /// MCP answer's text spells, with the same members and error wording, for the transport
    /// to encode. A backend with typed models decodes them from the maps (taken by move) and
    /// serializes its result straight into the answer, with no JSON text either way.
    ///
    /// The default renders the maps as text for [`Backend::invoke_hook`] and reads its answer
    /// back: the same result, at the cost of that round trip.
    async fn invoke_hook_json(&self, args: InvokeHookArgs) -> InvokeHookResponse {
        crate::dispatch::invoke_through_text(self, &args).await
    }

    /// The same call for the transports whose request and answer are proto messages (gRPC and
    /// the raw socket, through [`crate::dispatch::invoke_hook_proto`]): the context still the
    /// request's message (a backend with typed models builds its own from it), the answer's bytes,
    /// the same as encoding [`Backend::invoke_hook_json`]'s answer, and what kind of answer it
    /// is (for metrics). A backend with typed models writes its result straight into the bytes,
    /// with no `Value` tree in between.
    ///
    /// The default calls [`Backend::invoke_hook_json`] with the context in its JSON form, and
    /// encodes the answer.
    async fn invoke_hook_proto(&self, args: ProtoArgs) -> ProtoAnswer {
        ProtoAnswer::from_response(self.invoke_hook_json(args.into_json_args()).await)
    }

    /// Plugins taken out at run time (`on_error: disable`), reported by `/health`.
    fn runtime_disabled(&self) -> Vec<String> {
        Vec::new()
    }

    /// A value that changes whenever [`Backend::runtime_disabled`] does, checked by the
    /// metrics layer after every call (so it must be cheap: the manager's is one atomic
    /// load). The default counts the list, which a backend whose list only grows may keep.
    fn runtime_disabled_stamp(&self) -> u64 {
        self.runtime_disabled().len() as u64
    }
}

/// A hook answer as the bytes of a proto `InvokeHookResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoAnswer {
    /// The encoded message.
    pub message: Encoded,
    /// What the answer says, for metrics.
    pub kind: AnswerKind,
}

/// What a hook answer says, as metrics count it (defined beside the MCP answer's writer,
/// which carries it from the backend that wrote the text to the metrics layer).
pub use plugwire_mcp::AnswerKind;

impl ProtoAnswer {
    /// An answer held as a value, encoded.
    pub fn from_response(answer: InvokeHookResponse) -> Self {
        let kind = AnswerKind::of_response(&answer);
        ProtoAnswer {
            message: Encoded::of(&plugwire_grpc::convert::response_into_proto(answer)),
            kind,
        }
    }
}

/// A hook call's arguments as a proto request carries them (gRPC, the raw socket): the
/// payload already a JSON object, the context still the request's message.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoArgs {
    /// The hook's name.
    pub hook_type: String,
    /// The plugin's name.
    pub plugin_name: String,
    /// The payload.
    pub payload: serde_json::Map<String, Value>,
    /// The context, absent when the request has none. Boxed: the arguments move through
    /// several layers of futures (metrics, reload, the manager), and the message was 432 of
    /// their 552 bytes (profiled: copying them was ~1.3k instructions of a gRPC call).
    pub context: Option<Box<pb::PluginContext>>,
}

impl ProtoArgs {
    /// A request's arguments, taken by move. Empty `hook_type` or `plugin_name` cannot name a
    /// hook and is refused, naming the field.
    pub fn from_request(req: pb::InvokeHookRequest) -> Result<Self, MissingField> {
        if req.hook_type.is_empty() {
            return Err(MissingField { field: "hook_type" });
        }
        if req.plugin_name.is_empty() {
            return Err(MissingField {
                field: "plugin_name",
            });
        }
        Ok(ProtoArgs {
            hook_type: req.hook_type,
            plugin_name: req.plugin_name,
            payload: req.payload.map(from_struct_owned).unwrap_or_default(),
            context: req.context.map(Box::new),
        })
    }

    /// The arguments the JSON entries take: the context in its JSON request form (as
    /// `plugwire_grpc::convert::request_into_args` gives them).
    pub fn into_json_args(self) -> InvokeHookArgs {
        InvokeHookArgs {
            context: context_to_json(self.context.as_deref()),
            hook_type: self.hook_type,
            plugin_name: self.plugin_name,
            payload: self.payload,
        }
    }
}
