"""Start the ContextForge 1.0.0 plugin runtime (HTTP transport) for the benchmark.

The unmodified runtime passes ``ssl_cert_reqs`` to uvicorn as a string, which uvicorn 0.44
rejects (``ValueError: '2' is not a valid VerifyMode``); this wrapper casts it to int and then
runs the runtime's own entry point. Everything else is configured by the usual environment
(``PLUGINS_CONFIG_PATH``, ``PLUGINS_SERVER_*``, ``PLUGINS_TRANSPORT=http``).
"""

import asyncio

from mcpgateway.plugins.framework.external.mcp.server import runtime

_get_ssl_config = runtime.SSLCapableFastMCP._get_ssl_config


def _get_ssl_config_int(self):
    config = _get_ssl_config(self)
    if "ssl_cert_reqs" in config:
        config["ssl_cert_reqs"] = int(config["ssl_cert_reqs"])
    return config


runtime.SSLCapableFastMCP._get_ssl_config = _get_ssl_config_int

if __name__ == "__main__":
    asyncio.run(runtime.run())
