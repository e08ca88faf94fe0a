"""Which ContextForge era the running venv holds, and the names that differ between the eras.

The same suite runs once per venv (`make interop`): ContextForge 1.0.0 on Python 3.11, whose plugin
framework is `mcpgateway.plugins.framework`, and ContextForge 1.1.0 on Python 3.12, whose framework
is the separate `cpex` 0.1.4 package (`cpex.framework`; the 1.1.0 wheel no longer has
`mcpgateway.plugins.framework`). The era is read from what is installed, or forced with
INTEROP_ERA=1.0.0|1.1.0 (the Makefile sets it, so a venv that lost its package fails the import
check instead of being taken for the other era).

Child processes (pyclient.py, pyruntime.py, the stand-in plugins) import this module too, so they
use the same names as the tests.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

ERA_1_0 = "1.0.0"
ERA_1_1 = "1.1.0"
ERAS = (ERA_1_0, ERA_1_1)


@dataclass(frozen=True)
class Era:
    """The import paths and module names of one era's Python plugin framework."""

    name: str
    framework: str  # package with Plugin, PluginManager, payloads, GlobalContext
    ssl_server_class: str  # class of the MCP runtime whose `_get_ssl_config` needs the int cast
    distribution: str  # what pip installs for this era (for error messages)

    @property
    def mcp_runtime(self) -> str:
        return f"{self.framework}.external.mcp.server.runtime"

    @property
    def grpc_runtime(self) -> str:
        return f"{self.framework}.external.grpc.server.runtime"

    @property
    def unix_runtime(self) -> str:
        return f"{self.framework}.external.unix.server.runtime"

    @property
    def grpc_package(self) -> str:
        """The protobuf package of the plugin service (part of every gRPC method path)."""
        return "mcpgateway.plugins" if self.name == ERA_1_0 else "cpex"

    @property
    def import_check(self) -> str:
        """Python source that imports everything the suite uses; fails when the era's package is missing."""
        return f"import {self.framework}, {self.mcp_runtime}"

    def mode_name(self, legacy: str) -> str:
        """The mode a client of this era reports after loading a config that says `legacy`.

        A 1.1.0 client migrates the 1.0.0 names on input (enforce and enforce_ignore_error become
        sequential, permissive becomes transform); a 1.0.0 client keeps them.
        """
        if self.name == ERA_1_0:
            return legacy
        return {"enforce": "sequential", "enforce_ignore_error": "sequential", "permissive": "transform"}.get(legacy, legacy)


_KNOWN = {
    ERA_1_0: Era(ERA_1_0, "mcpgateway.plugins.framework", "SSLCapableFastMCP", "mcp-contextforge-gateway==1.0.0"),
    ERA_1_1: Era(ERA_1_1, "cpex.framework", "SSLCapableMCPServer",
                 'mcp-contextforge-gateway==1.1.0 "cpex[grpc]==0.1.4"'),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def detect() -> Era:
    """INTEROP_ERA if set (must name a known era), else cpex.framework → 1.1.0, else 1.0.0.

    Falling back to 1.0.0 when nothing is installed is deliberate: the import check then fails
    naming the 1.0.0 package, which is what `make interop` installs first.
    """
    forced = os.environ.get("INTEROP_ERA", "").strip()
    if forced:
        if forced not in _KNOWN:
            raise SystemExit(f"INTEROP_ERA={forced!r}: expected one of {', '.join(ERAS)}")
        return _KNOWN[forced]
    if _installed("cpex.framework"):
        return _KNOWN[ERA_1_1]
    return _KNOWN[ERA_1_0]


CURRENT = detect()
