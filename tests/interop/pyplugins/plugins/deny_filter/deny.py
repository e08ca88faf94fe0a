"""Deny list, as upstream's plugins/deny_filter/deny.py (1.0.0) behaves: prompt_pre_fetch only.

The first argument containing a deny word (case-sensitive substring) blocks the prompt with the
violation upstream returns; otherwise the payload comes back unchanged as `modified_payload`.
"""

from pydantic import BaseModel

from mcpgateway.plugins.framework import (
    Plugin,
    PluginConfig,
    PluginContext,
    PluginViolation,
    PromptPrehookPayload,
    PromptPrehookResult,
)


class _Config(BaseModel):
    words: list[str]


class DenyListPlugin(Plugin):
    """Blocks prompts whose arguments contain a configured word."""

    def __init__(self, config: PluginConfig) -> None:
        super().__init__(config)
        self._words = _Config.model_validate(self._config.config).words

    async def prompt_pre_fetch(self, payload: PromptPrehookPayload, context: PluginContext) -> PromptPrehookResult:
        if payload.args:
            for key in payload.args:
                if any(word in payload.args[key] for word in self._words):
                    violation = PluginViolation(
                        reason="Prompt not allowed",
                        description="A deny word was found in the prompt",
                        code="deny",
                        details={},
                    )
                    return PromptPrehookResult(modified_payload=payload, violation=violation, continue_processing=False)
        return PromptPrehookResult(modified_payload=payload)
