"""The Python gateway's own plugin client (1.0.0 or cpex 1.1.0, per `era`), driven line by line by the tests.

Run with the interop venv's python from a directory without `.env`. It reads one JSON command per
line on stdin and writes one JSON answer per line on the stdout it started with (library output and
logs are moved to stderr so they cannot corrupt the answers). It keeps ONE `PluginManager` for its
whole life, so a test can restart the plugin server between two commands and check that the same
manager's next call works. As in the gateway, the manager is initialized
and shut down by one long-lived task and each hook call runs in a task of its own, so a session
that dies (anyio cancel scopes, in both eras) is reported as an error answer instead of killing the driver.

Commands:
  {"op": "init", "config": PATH}
      PluginManager(PATH) + initialize(): connects every `kind: external` entry, fetches and merges the
      remote configs. Answer: {"ok": true, "plugins": {name: merged PluginConfig as JSON}}.
  {"op": "invoke", "hook": H, "payload": {...}, "global_context": {...}}
      The whole chain, as the gateway runs it: manager.invoke_hook(H, payload model, GlobalContext).
      Answer: {"ok": true, "result": PluginResult JSON, "violation_plugin": name|null}.
  {"op": "plugin", "name": N, "hook": H, "payload": {...}, "context": {...}, "raw": bool}
      One ExternalPlugin.invoke_hook call (one tools/call). With "raw": true the payload dict is sent
      as-is, without client-side validation (to provoke a server-side payload error).
      Answer: {"ok": true, "result": ..., "context": ...} or {"ok": false, "error_type": ..., "error": ...}.
  {"op": "shutdown"}
"""

import asyncio
import json
import os
import sys
import traceback

# Keep the real stdout for answers only; everything else printed goes to stderr.
_ANSWERS = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import importlib  # noqa: E402

from era import CURRENT  # noqa: E402

_framework = importlib.import_module(CURRENT.framework)
GlobalContext = _framework.GlobalContext
PluginContext = _framework.PluginContext
PluginError = _framework.PluginError
PluginManager = _framework.PluginManager
get_hook_registry = importlib.import_module(CURRENT.framework + ".hooks.registry").get_hook_registry


def _answer(obj):
    _ANSWERS.write(json.dumps(obj) + "\n")
    _ANSWERS.flush()


def _failure(exc: BaseException) -> dict:
    if isinstance(exc, PluginError):
        return {"ok": False, "error_type": "PluginError", "error": exc.error.model_dump(mode="json")}
    return {"ok": False, "error_type": type(exc).__name__, "error": {"message": repr(exc)}}


class Driver:
    def __init__(self) -> None:
        self.manager = None

    async def op_init(self, cmd):
        self.manager = PluginManager(cmd["config"])
        await self.manager.initialize()
        plugins = {}
        for entry in self.manager.config.plugins or []:
            plugin = self.manager.get_plugin(entry.name)
            if plugin is not None:
                plugins[entry.name] = plugin.config.model_dump(mode="json")
        return {"ok": True, "plugins": plugins}

    async def op_invoke(self, cmd):
        hook = cmd["hook"]
        payload = get_hook_registry().get_payload_type(hook).model_validate(cmd["payload"])
        global_context = GlobalContext.model_validate(cmd.get("global_context") or {"request_id": "interop-1"})
        result, _contexts = await self.manager.invoke_hook(hook, payload, global_context)
        violation_plugin = result.violation.plugin_name if result.violation else None
        return {"ok": True, "result": result.model_dump(mode="json"), "violation_plugin": violation_plugin}

    async def op_plugin(self, cmd):
        plugin = self.manager.get_plugin(cmd["name"])
        if plugin is None:
            return {"ok": False, "error_type": "NoSuchPlugin", "error": {"message": cmd["name"]}}
        hook = cmd["hook"]
        payload = cmd["payload"]
        if not cmd.get("raw"):
            payload = get_hook_registry().get_payload_type(hook).model_validate(payload)
        context = PluginContext.model_validate(cmd.get("context") or {"global_context": {"request_id": "interop-1"}})
        result = await plugin.invoke_hook(hook, payload, context)
        return {"ok": True, "result": result.model_dump(mode="json"), "context": context.model_dump(mode="json")}

    async def op_shutdown(self, _cmd):
        if self.manager is not None:
            await self.manager.shutdown()
        return {"ok": True}


async def _run(coro) -> dict:
    """Run one command in its own task and turn any outcome, cancellation included, into an answer."""
    task = asyncio.ensure_future(coro)
    await asyncio.wait({task})
    if task.cancelled():
        return {"ok": False, "error_type": "CancelledError", "error": {"message": "the call's task was cancelled"}}
    exc = task.exception()
    if exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
        return _failure(exc)
    return task.result()


async def lifespan(driver: Driver, inbox: asyncio.Queue) -> None:
    """Like the gateway's start-up task: initializes the manager, stays alive, shuts it down.

    The MCP client's anyio scopes are entered here, so they are exited here; hook calls run in other
    tasks, as the gateway's request handlers do.
    """
    while True:
        cmd, reply = await inbox.get()
        try:
            answer = await getattr(driver, "op_" + cmd["op"])(cmd)
        except Exception as exc:  # a failed init is an answer, not a crash
            traceback.print_exc(file=sys.stderr)
            answer = _failure(exc)
        reply.set_result(answer)
        if cmd["op"] == "shutdown":
            return


async def main() -> None:
    driver = Driver()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()
    life = asyncio.ensure_future(lifespan(driver, inbox))
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        if cmd["op"] in ("init", "shutdown"):
            if life.done():
                answer = {"ok": False, "error_type": "LifespanDead", "error": {"message": repr(life)}}
            else:
                reply = loop.create_future()
                await inbox.put((cmd, reply))
                await asyncio.wait({reply, life}, return_when=asyncio.FIRST_COMPLETED)
                if reply.done():
                    answer = reply.result()
                else:
                    answer = {"ok": False, "error_type": "LifespanDead", "error": {"message": repr(life)}}
        else:
            answer = await _run(getattr(driver, "op_" + cmd["op"])(cmd))
        _answer(answer)
        if cmd["op"] == "shutdown":
            break


if __name__ == "__main__":
    asyncio.run(main())
