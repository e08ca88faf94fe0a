"""The plugin framework of the running era, so one stand-in module serves both eras.

ContextForge 1.0.0 has it at `mcpgateway.plugins.framework`, 1.1.0 in the `cpex` package
(`cpex.framework`); the classes used here have the same names and fields in both. `era` (in
tests/interop, also on PYTHONPATH) decides which one is imported.
"""

import importlib
import sys

from era import CURRENT

_framework = importlib.import_module(CURRENT.framework)

Plugin = _framework.Plugin
PluginConfig = _framework.PluginConfig
PluginContext = _framework.PluginContext
PluginViolation = _framework.PluginViolation
PromptPrehookPayload = _framework.PromptPrehookPayload
PromptPrehookResult = _framework.PromptPrehookResult
PromptPosthookPayload = _framework.PromptPosthookPayload
PromptPosthookResult = _framework.PromptPosthookResult
ToolPreInvokePayload = _framework.ToolPreInvokePayload
ToolPreInvokeResult = _framework.ToolPreInvokeResult
ToolPostInvokePayload = _framework.ToolPostInvokePayload
ToolPostInvokeResult = _framework.ToolPostInvokeResult


def served(plugin, hook: str) -> None:
    """One line on stderr per hook call, so a test can tell which server process served a call."""
    print(f"interop-plugin-call {plugin.name} {hook}", file=sys.stderr, flush=True)
