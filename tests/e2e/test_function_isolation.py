"""Functions isolated as on Lambda (the sandbox runtime of `make run`): each function sees exactly the
environment Terraform gives it, a timed-out invocation stops doing work, and a sandbox that dies is
replaced while the gateway keeps serving.

The stack runs a copy of functions/ whose ``ping`` answers three probes besides a plain ping: ``env``
(the names of the variables it sees), ``loop`` (loops past its 5 s timeout, then posts ``late`` to
its caller) and ``hold`` (posts ``holding``, then waits for a file to exist).
The interruption of one invocation among others in one sandbox is tested in
tests/emulator/test_sandbox_interrupt.py."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal

import psutil
import pytest

from emulator.function_env import lambda_runtime_environment
from emulator.handlers import new_log_stream
from tests.e2e.conftest import REPO, is_type, make_stack, open_client, recv_until

pytestmark = pytest.mark.e2e

PROBES = '''
import json as _json
import os as _os
import time as _time

from chat.management import Connections as _Connections


def _post(connection_id, frame):
    _Connections(_os.environ["MANAGEMENT_ENDPOINT"], _os.environ["AWS_REGION"]).post(
        connection_id, _json.dumps(frame).encode())


def _probe(event, context):
    body = _json.loads(event.get("body") or "{}")
    caller = event["requestContext"]["connectionId"]
    if body.get("probe") == "env":
        return {"statusCode": 200, "body": _json.dumps({"type": "env", "names": sorted(_os.environ)})}
    if body.get("probe") == "loop":
        _post(caller, {"type": "looping", "pid": _os.getpid()})
        end = _time.monotonic() + context.get_remaining_time_in_millis() / 1000 + 1.0
        while _time.monotonic() < end:  # past the timeout: only a stopped sandbox posts nothing after it
            _time.sleep(0.01)
        _post(caller, {"type": "late"})
        return {"statusCode": 200, "body": _json.dumps({"type": "done"})}
    if body.get("probe") == "hold":
        _post(caller, {"type": "holding", "pid": _os.getpid()})
        while not _os.path.exists(body["until"]):
            _time.sleep(0.01)
        return {"statusCode": 200, "body": _json.dumps({"type": "released"})}
    return None


_pinged = lambda_handler


def lambda_handler(event, context):
    return _probe(event, context) or _pinged(event, context)
'''


@pytest.fixture(scope="module")
def sandboxed(dynamodb_endpoint, tmp_path_factory):
    functions = tmp_path_factory.mktemp("functions")
    shutil.copytree(REPO / "functions", functions, dirs_exist_ok=True)
    handler = functions / "ping" / "handler.py"
    handler.write_text(handler.read_text() + PROBES)
    s = make_stack(dynamodb_endpoint, functions_dir=functions, function_workers=1)
    yield s
    s.stop()


def wait_gone(pid: int) -> None:
    try:
        psutil.Process(pid).wait(10)
    except psutil.NoSuchProcess:
        pass  # already gone


async def probe(ws, kind: str, expect: str, timeout: float = 30.0, **fields):
    await ws.send(json.dumps({"action": "ping", "probe": kind, **fields}))
    return await recv_until(ws, is_type(expect), timeout)


async def test_a_function_sees_exactly_its_own_environment_and_not_another_functions(sandboxed):
    # GIVEN the stack's environments (the authorizer's carries the JWT secret, ping's does not)
    stack = sandboxed.stack
    assert "JWT_SECRET" in stack.function_env["authorizer"] and "JWT_SECRET" not in stack.function_env["ping"]
    ws, _ = await open_client(sandboxed, "u_iso_env")
    async with ws:
        # WHEN ping lists the variables it can read
        names = set((await probe(ws, "env", "env"))["names"])
    # THEN they are its own (Terraform's + the local endpoints) plus what the Lambda runtime sets, and
    # nothing of the authorizer's or of the gateway process
    manifest = sandboxed.runtime.manifest
    runtime = lambda_runtime_environment(manifest, manifest.functions["ping"], region=stack.config.region,
                                         functions_dir=stack.config.functions_dir, log_stream=new_log_stream())
    assert names == set(stack.function_env["ping"]) | set(runtime)
    assert not names & {"JWT_SECRET", "TOKEN_SOURCES", "AUTH_MODE"}
    assert not names & (set(os.environ) - set(stack.function_env["ping"]) - set(runtime))


async def test_a_handler_looping_past_its_timeout_times_out_and_posts_nothing_afterwards(sandboxed):
    ws, connection_id = await open_client(sandboxed, "u_iso_loop")
    async with ws:
        # GIVEN a ping that loops past its 5 s timeout and would then post "late"
        looping = await probe(ws, "loop", "looping")
        # WHEN it times out
        inv = await sandboxed.wait_for_invocation(
            lambda i: i.route == "ping" and i.event["requestContext"]["connectionId"] == connection_id
            and i.outcome == "timeout", 30)
        # THEN the invocation ends as Lambda's does, the client gets API Gateway's error
        assert inv.error.startswith("Task timed out after 5.00 seconds")
        frame = await recv_until(ws, lambda f: "message" in f, 10)
        assert frame["message"] == "Internal server error"
        # AND the process that ran it is gone (nothing left to post), replaced by a new one
        await asyncio.to_thread(wait_gone, looping["pid"])
        await sandboxed.on_stack_loop(sandboxed.runtime.serving("ping"))
        assert (await probe(ws, "hold", "holding", until=os.devnull))["pid"] != looping["pid"]
        # AND nothing arrives when the handler would have posted "late" (the timeout + 1 s)
        with pytest.raises(TimeoutError):
            await recv_until(ws, is_type("late"), 1.5)


async def test_a_killed_sandbox_fails_its_invocation_in_flight_and_is_replaced(sandboxed):
    ws, connection_id = await open_client(sandboxed, "u_iso_kill")
    async with ws:
        # GIVEN an invocation in flight in ping's sandbox
        held = await probe(ws, "hold", "holding", until="/nonexistent/never")
        # WHEN the process is killed (OOM killer, crash in native code)
        os.kill(held["pid"], signal.SIGKILL)
        # THEN that invocation fails at once as Lambda's Runtime.ExitError, not after the timeout
        frame = await recv_until(ws, lambda f: "message" in f, 4)
        assert frame["message"] == "Internal server error"
        inv = await sandboxed.wait_for_invocation(
            lambda i: i.route == "ping" and i.event["requestContext"]["connectionId"] == connection_id
            and i.outcome == "error", 10)
        assert "Runtime.ExitError" in inv.error
        # AND the next one is served by a new sandbox
        await sandboxed.on_stack_loop(sandboxed.runtime.serving("ping"))
        assert (await probe(ws, "hold", "holding", until=os.devnull))["pid"] != held["pid"]
        await ws.send(json.dumps({"action": "ping"}))
        assert (await recv_until(ws, is_type("pong"), 30))["type"] == "pong"
    assert any(f == "ping" and pid == held["pid"] for f, pid, _ in sandboxed.runtime.recycles)
