"""Search/replace with Python regexes, as upstream's plugins/regex_filter/search_replace.py (1.0.0) behaves.

Rules apply in list order, each to the output of the previous one; only top-level string values of
`args` (and of a dict `result`) are rewritten; non-empty args always return a modified payload.
"""

import copy
import re

from pydantic import BaseModel

from plugins._framework import (
    Plugin,
    PluginConfig,
    PluginContext,
    PromptPosthookPayload,
    PromptPosthookResult,
    PromptPrehookPayload,
    PromptPrehookResult,
    ToolPostInvokePayload,
    ToolPostInvokeResult,
    ToolPreInvokePayload,
    ToolPreInvokeResult,
    served,
)


class _Rule(BaseModel):
    search: str
    replace: str


class _Config(BaseModel):
    words: list[_Rule]


class SearchReplacePlugin(Plugin):
    """Replaces every match of each configured pattern."""

    def __init__(self, config: PluginConfig) -> None:
        super().__init__(config)
        cfg = _Config.model_validate(self._config.config)
        self._rules = []
        for rule in cfg.words:
            try:
                self._rules.append((re.compile(rule.search), rule.replace))
            except re.error:
                pass  # upstream skips invalid patterns silently

    def _apply(self, text: str) -> str:
        for pattern, replacement in self._rules:
            text = pattern.sub(replacement, text)
        return text

    def _apply_args(self, args: dict) -> dict:
        return {k: self._apply(v) if isinstance(v, str) else v for k, v in args.items()}

    async def prompt_pre_fetch(self, payload: PromptPrehookPayload, context: PluginContext) -> PromptPrehookResult:
        served(self, "prompt_pre_fetch")
        if payload.args:
            return PromptPrehookResult(modified_payload=payload.model_copy(update={"args": self._apply_args(payload.args)}))
        return PromptPrehookResult()

    async def prompt_post_fetch(self, payload: PromptPosthookPayload, context: PluginContext) -> PromptPosthookResult:
        served(self, "prompt_post_fetch")
        if payload.result.messages:
            result = copy.deepcopy(payload.result)
            for message in result.messages:
                message.content.text = self._apply(message.content.text)
            return PromptPosthookResult(modified_payload=payload.model_copy(update={"result": result}))
        return PromptPosthookResult()

    async def tool_pre_invoke(self, payload: ToolPreInvokePayload, context: PluginContext) -> ToolPreInvokeResult:
        served(self, "tool_pre_invoke")
        if payload.args:
            return ToolPreInvokeResult(modified_payload=payload.model_copy(update={"args": self._apply_args(payload.args)}))
        return ToolPreInvokeResult()

    async def tool_post_invoke(self, payload: ToolPostInvokePayload, context: PluginContext) -> ToolPostInvokeResult:
        served(self, "tool_post_invoke")
        if isinstance(payload.result, dict):
            return ToolPostInvokeResult(modified_payload=payload.model_copy(update={"result": self._apply_args(payload.result)}))
        if isinstance(payload.result, str):
            return ToolPostInvokeResult(modified_payload=payload.model_copy(update={"result": self._apply(payload.result)}))
        return ToolPostInvokeResult(continue_processing=True)
