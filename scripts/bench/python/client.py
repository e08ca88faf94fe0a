"""The Python gateway client side of the benchmark.

Drives ``tool_pre_invoke`` through the ContextForge 1.0.0 gateway's own ``PluginManager`` with a
``kind: external`` entry (its MCP client over mTLS), at the concurrencies the harness asks for.

Protocol with the harness (``plugwire-bench run``), one JSON object per line:
  argv[1]  a JSON file: {"config": gateway YAML, "payload": {...}, "global_context": {...},
           "plan": [{"concurrency": c, "calls": n, "warmup": w}, ...]}
  stdout   {"event": "started"} once the PluginManager is initialized. Then, for each step: the
           harness writes a line to our stdin, we run the step's warm-up and print
           {"event": "ready"}; the harness samples the server's CPU and writes another line; we
           run the timed calls and print {"event": "result", ...}. Between steps we wait, so
           the harness can run other clients' steps (against other servers) in between.
           Closing our stdin ends the plan early.
Connections are counted where httpx/httpcore opens them.
"""

import asyncio
import json
import sys
import time

import httpcore._backends.anyio as _anyio_backend

CONNECTIONS = 0
_connect_tcp = _anyio_backend.AnyIOBackend.connect_tcp


async def _counting_connect_tcp(self, *args, **kwargs):
    global CONNECTIONS
    CONNECTIONS += 1
    return await _connect_tcp(self, *args, **kwargs)


_anyio_backend.AnyIOBackend.connect_tcp = _counting_connect_tcp

from mcpgateway.plugins.framework import (  # noqa: E402
    GlobalContext,
    PluginManager,
    ToolHookType,
    ToolPreInvokePayload,
)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def call(manager, payload, gctx):
    result, _ = await manager.invoke_hook(ToolHookType.TOOL_PRE_INVOKE, payload, gctx)
    modified = result.modified_payload
    if modified is None or "yikes" not in str(modified.args.get("query", "")):
        raise RuntimeError(f"unexpected result: {result!r}")


async def run_step(manager, payload, gctx, concurrency, calls):
    remaining = calls
    latencies = []
    errors = 0
    first_error = None

    async def worker():
        nonlocal remaining, errors, first_error
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                await call(manager, payload, gctx)
                latencies.append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001 - every failure is a counted error
                errors += 1
                if first_error is None:
                    first_error = repr(e)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, sorted(latencies), errors, first_error


def quantile(sorted_values, q):
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


async def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    manager = PluginManager(spec["config"])
    await manager.initialize()
    payload = ToolPreInvokePayload(**spec["payload"])
    gctx = GlobalContext(**spec["global_context"])
    emit({"event": "started"})
    for step in spec["plan"]:
        c, n = step["concurrency"], step["calls"]
        if not await asyncio.to_thread(sys.stdin.readline):
            break
        conns0 = CONNECTIONS
        await run_step(manager, payload, gctx, c, step.get("warmup", c))
        emit({"event": "ready"})
        if not await asyncio.to_thread(sys.stdin.readline):
            break
        elapsed, lat, errors, first_error = await run_step(manager, payload, gctx, c, n)
        emit(
            {
                "event": "result",
                "concurrency": c,
                "calls": n,
                "errors": errors,
                "first_error": first_error,
                "elapsed_s": elapsed,
                "p50_s": quantile(lat, 0.50),
                "p99_s": quantile(lat, 0.99),
                "connections": CONNECTIONS - conns0,
            }
        )
    await manager.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
