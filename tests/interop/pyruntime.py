"""Start ContextForge 1.0.0's external plugin runtime with its `ssl_cert_reqs` bug worked around.

The unmodified runtime passes `ssl_cert_reqs` to uvicorn as a string ("2"), which uvicorn 0.44
rejects at start-up under TLS (`ValueError: '2' is not a valid VerifyMode`; corrections.md finding
10). This wrapper casts it to int and then runs the real entry point,
`mcpgateway.plugins.framework.external.mcp.server.runtime.run()`. Everything else (PLUGINS_CONFIG_PATH,
PLUGINS_TRANSPORT, PLUGINS_SERVER_*) is read by the runtime itself.
"""

import asyncio

from mcpgateway.plugins.framework.external.mcp.server import runtime

_original_get_ssl_config = runtime.SSLCapableFastMCP._get_ssl_config


def _get_ssl_config_int(self):
    config = _original_get_ssl_config(self)
    if "ssl_cert_reqs" in config:
        config["ssl_cert_reqs"] = int(config["ssl_cert_reqs"])
    return config


runtime.SSLCapableFastMCP._get_ssl_config = _get_ssl_config_int

if __name__ == "__main__":
    asyncio.run(runtime.run())
