"""Deny list, as upstream's reference plugin server behaves on the wire.

That is upstream's plugins/deny_filter/deny.py (1.0.0) plus what that server adds, and what
plugwire's built-in DenyListPlugin does too (the same module serves both eras): the first argument containing a deny word (case-sensitive
substring) blocks with reason "Prompt not allowed", code "deny" and details {"arg": <argument name>},
returning the payload unchanged; `tool_pre_invoke` checks top-level string arguments, records
`deny_checked: true` in the plugin's context state and returns no payload when nothing matched.
"""

from pydantic import BaseModel

from plugins._framework import (
    Plugin,
    PluginConfig,
    PluginContext,
    PluginViolation,
    PromptPrehookPayload,
    PromptPrehookResult,
    ToolPreInvokePayload,
    ToolPreInvokeResult,
    served,
)


class _Config(BaseModel):
    words: list[str]


class DenyListPlugin(Plugin):
    """Blocks prompts and tool calls whose arguments contain a configured word."""

    def __init__(self, config: PluginConfig) -> None:
        super().__init__(config)
        self._words = _Config.model_validate(self._config.config).words

    def _find(self, args: dict) -> str | None:
        for key, value in args.items():
            if isinstance(value, str) and any(word in value for word in self._words):
                return key
        return None

    @staticmethod
    def _violation(arg: str) -> PluginViolation:
        return PluginViolation(
            reason="Prompt not allowed",
            description="A deny word was found in the prompt",
            code="deny",
            details={"arg": arg},
        )

    async def prompt_pre_fetch(self, payload: PromptPrehookPayload, context: PluginContext) -> PromptPrehookResult:
        served(self, "prompt_pre_fetch")
        arg = self._find(payload.args or {})
        if arg is not None:
            return PromptPrehookResult(modified_payload=payload, violation=self._violation(arg), continue_processing=False)
        return PromptPrehookResult(modified_payload=payload)

    async def tool_pre_invoke(self, payload: ToolPreInvokePayload, context: PluginContext) -> ToolPreInvokeResult:
        served(self, "tool_pre_invoke")
        context.state["deny_checked"] = True
        arg = self._find(payload.args or {})
        if arg is not None:
            return ToolPreInvokeResult(modified_payload=payload, violation=self._violation(arg), continue_processing=False)
        return ToolPreInvokeResult()
