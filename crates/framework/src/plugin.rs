//! The `Plugin` trait and the `kind` → constructor registry.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::payloads::*;
use crate::payloads_cpex::{DelegationPayload, IdentityPayload, MessagePayload};
use crate::{HookPayload, PluginConfig, PluginContext, PluginError, PluginResult};

/// A plugin. Implement `config()` and the hook methods you need; every other hook passes through.
/// The manager calls `invoke`, whose default dispatches to the per-hook method matching the payload.
///
/// There is one method per hook, named after it (`cmf.tool_pre_invoke` → `cmf_tool_pre_invoke`).
/// cpex's hooks follow the same pattern: `identity_resolve` and `token_delegate` return their
/// result ([`crate::IdentityResult`], [`crate::DelegationResult`]) as the `modified_payload`, the
/// nine message hooks return a changed [`MessagePayload`]. A plugin is only called for the hooks
/// its config entry lists.
#[async_trait::async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// The entry this plugin was built from. The manager reads `hooks`, `mode`, `priority` and
    /// `conditions` from it **after** `initialize()`, so an external plugin can merge its remote config there.
    fn config(&self) -> &PluginConfig;

    /// Called once before any hook (connect, warm caches, ...).
    async fn initialize(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Called once at shutdown, in reverse registration order. Errors are the plugin's to log.
    async fn shutdown(&self) {}

    /// For a plugin served elsewhere (`kind: external`): why `err` left the call without the
    /// remote plugin's verdict, so the manager can apply the failure policy (fail closed with a
    /// violation naming the plugin, or fail open, logged and counted). `None`, the default, is
    /// right for every in-process plugin: its error is its own and `on_error` applies as written.
    fn failure_cause(&self, _err: &PluginError) -> Option<crate::FailureCause> {
        None
    }

    /// Told after the manager let a request go on although this plugin failed (fail-open), so a
    /// remote plugin can count it where operators alert on it. Default: nothing.
    fn fail_open(&self, _hook: crate::HookType, _cause: crate::FailureCause) {}

    /// Run one hook on a payload the caller keeps. The manager's chain calls this: it keeps
    /// the payload for the next plugin (or the result), so a plugin that takes it by value
    /// costs a copy per call. The default makes that copy and calls [`Plugin::invoke`]; a
    /// plugin that only reads the payload (ExternalPlugin, which encodes it into a request)
    /// overrides both and spares the copy.
    async fn invoke_lent(
        &self,
        payload: &HookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.invoke(payload.clone(), ctx).await
    }

    /// Run one hook. The default dispatches to the per-hook methods; ExternalPlugin overrides it.
    async fn invoke(
        &self,
        payload: HookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        match payload {
            HookPayload::PromptPreFetch(p) => self.prompt_pre_fetch(p, ctx).await,
            HookPayload::PromptPostFetch(p) => self.prompt_post_fetch(p, ctx).await,
            HookPayload::ToolPreInvoke(p) => self.tool_pre_invoke(p, ctx).await,
            HookPayload::ToolPostInvoke(p) => self.tool_post_invoke(p, ctx).await,
            HookPayload::ResourcePreFetch(p) => self.resource_pre_fetch(p, ctx).await,
            HookPayload::ResourcePostFetch(p) => self.resource_post_fetch(p, ctx).await,
            HookPayload::AgentPreInvoke(p) => self.agent_pre_invoke(p, ctx).await,
            HookPayload::AgentPostInvoke(p) => self.agent_post_invoke(p, ctx).await,
            HookPayload::HttpPreRequest(p) => self.http_pre_request(p, ctx).await,
            HookPayload::HttpPostRequest(p) => self.http_post_request(p, ctx).await,
            HookPayload::HttpAuthResolveUser(p) => self.http_auth_resolve_user(p, ctx).await,
            HookPayload::HttpAuthCheckPermission(p) => {
                self.http_auth_check_permission(p, ctx).await
            }
            HookPayload::IdentityResolve(p) => self.identity_resolve(p, ctx).await,
            HookPayload::TokenDelegate(p) => self.token_delegate(p, ctx).await,
            HookPayload::Evaluate(p) => self.evaluate(p, ctx).await,
            HookPayload::CmfToolPreInvoke(p) => self.cmf_tool_pre_invoke(p, ctx).await,
            HookPayload::CmfToolPostInvoke(p) => self.cmf_tool_post_invoke(p, ctx).await,
            HookPayload::CmfLlmInput(p) => self.cmf_llm_input(p, ctx).await,
            HookPayload::CmfLlmOutput(p) => self.cmf_llm_output(p, ctx).await,
            HookPayload::CmfResourcePreFetch(p) => self.cmf_resource_pre_fetch(p, ctx).await,
            HookPayload::CmfResourcePostFetch(p) => self.cmf_resource_post_fetch(p, ctx).await,
            HookPayload::CmfPromptPreFetch(p) => self.cmf_prompt_pre_fetch(p, ctx).await,
            HookPayload::CmfPromptPostFetch(p) => self.cmf_prompt_post_fetch(p, ctx).await,
        }
    }

    /// `prompt_pre_fetch`: rewrite the arguments or block before a prompt is rendered.
    async fn prompt_pre_fetch(
        &self,
        _payload: PromptPrehookPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `prompt_post_fetch`: inspect or rewrite a rendered prompt.
    async fn prompt_post_fetch(
        &self,
        _payload: PromptPosthookPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `tool_pre_invoke`: rewrite the arguments or block before a tool runs.
    async fn tool_pre_invoke(
        &self,
        _payload: ToolPreInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `tool_post_invoke`: inspect or rewrite a tool's answer.
    async fn tool_post_invoke(
        &self,
        _payload: ToolPostInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `resource_pre_fetch`: rewrite the URI or block before a fetch.
    async fn resource_pre_fetch(
        &self,
        _payload: ResourcePreFetchPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `resource_post_fetch`: inspect or rewrite fetched content.
    async fn resource_post_fetch(
        &self,
        _payload: ResourcePostFetchPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `agent_pre_invoke`: rewrite or block an agent call.
    async fn agent_pre_invoke(
        &self,
        _payload: AgentPreInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `agent_post_invoke`: inspect or rewrite an agent's answer.
    async fn agent_post_invoke(
        &self,
        _payload: AgentPostInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `http_pre_request`: return the headers to use (`ModifiedPayload::HttpPreRequestHeaders`).
    async fn http_pre_request(
        &self,
        _payload: HttpPreRequestPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `http_post_request`: return the headers to use (`ModifiedPayload::HttpPostRequestHeaders`).
    async fn http_post_request(
        &self,
        _payload: HttpPostRequestPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `http_auth_resolve_user`: return the user (`ModifiedPayload::ResolvedUser`) or pass.
    async fn http_auth_resolve_user(
        &self,
        _payload: HttpAuthResolveUserPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// `http_auth_check_permission`: return a decision (`ModifiedPayload::PermissionDecision`) or pass.
    async fn http_auth_check_permission(
        &self,
        _payload: HttpAuthCheckPermissionPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `identity_resolve`: return an [`crate::IdentityResult`] as `modified_payload`
    /// to resolve or reject the caller. Over a wire the token arrives as `"**********"`.
    async fn identity_resolve(
        &self,
        _payload: IdentityPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `token_delegate`: return a [`crate::DelegationResult`] as `modified_payload`.
    async fn token_delegate(
        &self,
        _payload: DelegationPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `evaluate` (generic message evaluation).
    async fn evaluate(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.tool_pre_invoke`.
    async fn cmf_tool_pre_invoke(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.tool_post_invoke`.
    async fn cmf_tool_post_invoke(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.llm_input`.
    async fn cmf_llm_input(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.llm_output`.
    async fn cmf_llm_output(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.resource_pre_fetch`.
    async fn cmf_resource_pre_fetch(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.resource_post_fetch`.
    async fn cmf_resource_post_fetch(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.prompt_pre_fetch`.
    async fn cmf_prompt_pre_fetch(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }

    /// cpex `cmf.prompt_post_fetch`.
    async fn cmf_prompt_post_fetch(
        &self,
        _payload: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(PluginResult::pass())
    }
}

/// A plugin constructor: receives the whole entry (use `config.config_value()` for its `config:`).
/// Return an error for a bad `config:` (e.g. a regex that does not compile): it fails start-up with
/// the file and plugin named.
pub type PluginConstructor =
    Arc<dyn Fn(PluginConfig) -> Result<Arc<dyn Plugin>, PluginError> + Send + Sync>;

/// Maps `kind` strings to constructors. Several kinds may share one constructor (our short name
/// plus the Python dotted paths).
#[derive(Clone, Default)]
pub struct PluginRegistry {
    ctors: BTreeMap<String, PluginConstructor>,
}

impl fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("kinds", &self.ctors.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PluginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `ctor` under every string in `kinds` (a later registration of the same kind replaces it).
    pub fn register<F>(&mut self, kinds: &[&str], ctor: F)
    where
        F: Fn(PluginConfig) -> Result<Arc<dyn Plugin>, PluginError> + Send + Sync + 'static,
    {
        let ctor: PluginConstructor = Arc::new(ctor);
        for k in kinds {
            self.ctors.insert((*k).to_owned(), ctor.clone());
        }
    }

    /// Whether `kind` is registered.
    pub fn contains(&self, kind: &str) -> bool {
        self.ctors.contains_key(kind)
    }

    /// All registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.ctors.keys().map(String::as_str).collect()
    }

    /// Build a plugin for `config.kind`; `None` when the kind is unknown.
    pub fn create(&self, config: PluginConfig) -> Option<Result<Arc<dyn Plugin>, PluginError>> {
        let ctor = self.ctors.get(&config.kind)?.clone();
        Some(ctor(config))
    }
}
