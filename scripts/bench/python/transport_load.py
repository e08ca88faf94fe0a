"""A bare load driver for profiling `plugwire serve`'s gRPC and raw-socket paths (not part of
`make bench`): the benchmark's `tool_pre_invoke` call, straight over the wire with no gateway
around it, so nearly all of a profile of the server is the server.

    python transport_load.py grpc-uds PATH C N       # gRPC over a Unix socket
    python transport_load.py grpc-tls HOST:PORT C N --certs DIR   # gRPC mTLS (plugwire certs layout)
    python transport_load.py raw PATH C N            # the raw socket

C concurrent callers make N calls in all (after 50 warm-up calls); prints one JSON line:
calls, seconds, errors. With `--pause`, waits for a line on stdin after the warm-up, so a
profiler can be started (or its counters zeroed) for the timed calls only.
"""

import asyncio
import json
import struct
import sys
import time

from google.protobuf import json_format, struct_pb2
from mcpgateway.plugins.framework.external.grpc.proto import plugin_service_pb2 as pb
from mcpgateway.plugins.framework.external.grpc.proto import plugin_service_pb2_grpc as pbg

PAYLOAD = {
    "name": "search_documents",
    "args": {
        "query": "why does the crap build fail on the release branch",
        "description": "Search the engineering knowledge base for incident reports, runbooks and "
        "design notes. Results include the crap that nobody wanted to document, ranked by "
        "relevance and recency. The index covers the wiki, the ticket tracker and the "
        "postmortem archive of the last three years.",
        "notes": "user pasted a stack trace: thread 'main' panicked at src/main.rs:42:5 - "
        "called `Result::unwrap()` on an `Err` value: crap",
        "collection": "engineering-kb",
        "language": "en",
        "limit": 20,
        "offset": 0,
        "include_archived": False,
        "filters": {"team": "platform", "since": "2024-01-01", "tags": ["build", "ci", "release"]},
    },
    "headers": {
        "x-request-id": "0f8b5c1e-7a43-4f0e-9d7c-3b1e2a9c4d55",
        "x-trace": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "user-agent": "plugwire-bench/0.1",
    },
}


def request():
    payload = struct_pb2.Struct()
    json_format.ParseDict(PAYLOAD, payload)
    ctx = pb.PluginContext(
        global_context=pb.GlobalContext(
            request_id="bench-req-000001",
            user_string="alice@example.com",
            tenant_id="team-platform",
            server_id="srv-knowledge-base",
        )
    )
    return pb.InvokeHookRequest(
        hook_type="tool_pre_invoke",
        plugin_name="ReplaceBadWordsPlugin",
        payload=payload,
        context=ctx,
    )


def check(resp):
    if resp.error.message or b"yikes" not in resp.result.SerializeToString():
        raise RuntimeError(f"unexpected answer: {resp}")


async def grpc_caller(mode, target, certs):
    import grpc

    if mode == "grpc-uds":
        channel = grpc.aio.insecure_channel(f"unix:{target}")
    else:
        def read(name):
            with open(f"{certs}/{name}", "rb") as f:
                return f.read()

        creds = grpc.ssl_channel_credentials(
            root_certificates=read("ca.crt"),
            private_key=read("client.key"),
            certificate_chain=read("client.crt"),
        )
        channel = grpc.aio.secure_channel(target, creds)
    stub = pbg.PluginServiceStub(channel)
    req = request()

    async def call():
        check(await stub.InvokeHook(req))

    return call


async def raw_caller(path, concurrency):
    frame = request().SerializeToString()
    frame = struct.pack(">I", len(frame)) + frame
    pool = asyncio.Queue()
    for _ in range(concurrency):
        pool.put_nowait(await asyncio.open_unix_connection(path))

    async def call():
        reader, writer = await pool.get()
        try:
            writer.write(frame)
            await writer.drain()
            (n,) = struct.unpack(">I", await reader.readexactly(4))
            resp = pb.InvokeHookResponse()
            resp.ParseFromString(await reader.readexactly(n))
            check(resp)
        finally:
            pool.put_nowait((reader, writer))

    return call


async def run(call, concurrency, calls):
    remaining = calls
    errors = 0

    async def worker():
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            try:
                await call()
            except Exception as e:  # noqa: BLE001 - counted
                errors += 1
                if errors == 1:
                    print(f"first error: {e!r}", file=sys.stderr)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, errors


async def main():
    args = sys.argv[1:]
    pause = "--pause" in args
    certs = None
    if "--certs" in args:
        certs = args[args.index("--certs") + 1]
    mode, target, concurrency, calls = args[0], args[1], int(args[2]), int(args[3])
    if mode == "raw":
        call = await raw_caller(target, concurrency)
    else:
        call = await grpc_caller(mode, target, certs)
    await run(call, concurrency, 50)
    if pause:
        print(json.dumps({"event": "ready"}), flush=True)
        sys.stdin.readline()
    seconds, errors = await run(call, concurrency, calls)
    print(json.dumps({"calls": calls, "seconds": seconds, "errors": errors}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
