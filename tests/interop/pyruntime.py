"""Start the running era's MCP plugin runtime with its TLS start-up crash worked around.

Both eras' runtimes (1.0.0 `mcpgateway.plugins.framework.external.mcp.server.runtime`, class
`SSLCapableFastMCP`; 1.1.0 `cpex.framework.external.mcp.server.runtime`, class `SSLCapableMCPServer`)
build uvicorn's TLS settings with `ssl_cert_reqs` as a *string* ("2"). uvicorn wants an
`ssl.VerifyMode` int and exits at start-up with `ValueError: '2' is not a valid VerifyMode` whenever
TLS is on, so the unmodified runtime cannot serve TLS at all. This wrapper replaces
`_get_ssl_config` by one returning the same dict with that one value cast to int, then runs the real
entry point `runtime.run()`. Everything else (PLUGINS_CONFIG_PATH, PLUGINS_TRANSPORT,
PLUGINS_SERVER_*) is read by the runtime itself, unchanged.
"""

import asyncio
import importlib

from era import CURRENT

runtime = importlib.import_module(CURRENT.mcp_runtime)
_server_class = getattr(runtime, CURRENT.ssl_server_class)
_original_get_ssl_config = _server_class._get_ssl_config


def _get_ssl_config_int(self):
    config = _original_get_ssl_config(self)
    if "ssl_cert_reqs" in config:
        config["ssl_cert_reqs"] = int(config["ssl_cert_reqs"])
    return config


_server_class._get_ssl_config = _get_ssl_config_int

if __name__ == "__main__":
    asyncio.run(runtime.run())
