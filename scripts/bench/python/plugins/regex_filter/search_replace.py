"""SearchReplace for the Python side of the benchmark.

The mcp-contextforge-gateway 1.0.0 wheel does not ship upstream's ``plugins/`` folder, so the
benchmark brings this module (same kind string, same config, same behaviour as upstream's
``plugins/regex_filter/search_replace.py``: rules in order, each ``re.sub`` over every top-level
string argument). Put ``scripts/bench/python`` on ``PYTHONPATH``.
"""

import re

from pydantic import BaseModel

from mcpgateway.plugins.framework import (
    Plugin,
    PluginConfig,
    PluginContext,
    PromptPrehookPayload,
    PromptPrehookResult,
    ToolPreInvokePayload,
    ToolPreInvokeResult,
)


class _Rule(BaseModel):
    search: str
    replace: str


class _Config(BaseModel):
    words: list[_Rule]


class SearchReplacePlugin(Plugin):
    """Regex search and replace on prompt and tool arguments."""

    def __init__(self, config: PluginConfig):
        super().__init__(config)
        rules = _Config.model_validate(self._config.config)
        self._patterns = []
        for rule in rules.words:
            try:
                self._patterns.append((re.compile(rule.search), rule.replace))
            except re.error:
                pass  # upstream skips invalid patterns silently

    def _rewrite(self, args: dict) -> dict:
        out = dict(args)
        for pattern, replacement in self._patterns:
            for key, value in out.items():
                if isinstance(value, str):
                    out[key] = pattern.sub(replacement, value)
        return out

    async def prompt_pre_fetch(self, payload: PromptPrehookPayload, context: PluginContext) -> PromptPrehookResult:
        if payload.args:
            return PromptPrehookResult(modified_payload=payload.model_copy(update={"args": self._rewrite(payload.args)}))
        return PromptPrehookResult()

    async def tool_pre_invoke(self, payload: ToolPreInvokePayload, context: PluginContext) -> ToolPreInvokeResult:
        if payload.args:
            return ToolPreInvokeResult(modified_payload=payload.model_copy(update={"args": self._rewrite(payload.args)}))
        return ToolPreInvokeResult()
