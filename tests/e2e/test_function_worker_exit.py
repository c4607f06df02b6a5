"""A function worker process that dies (OOM killer, a crash in native code): the gateway fails
what it had in flight and what comes next at once, and keeps serving connections."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from emulator.config import Quotas
from tests.e2e.conftest import make_stack, open_client, recv_json, recv_until

pytestmark = pytest.mark.e2e


async def test_a_dead_worker_fails_its_invocations_fast_and_the_gateway_keeps_serving(dynamodb_endpoint):
    stack = make_stack(dynamodb_endpoint, function_workers=1,
                       quotas=Quotas(throttling_rate_limit=10_000, throttling_burst_limit=10_000))
    try:
        ws, connection_id = await open_client(stack, "u_wp_dies")
        async with ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert (await recv_until(ws, lambda f: f.get("type") == "pong", 30))["type"] == "pong"
            os.kill(stack.runtime.worker_pids()[0], signal.SIGKILL)
            await asyncio.sleep(0.5)
            await ws.send(json.dumps({"action": "ping"}))
            frame = await recv_json(ws, timeout=5)  # no 29 s integration timeout: the worker is known dead
            assert (frame["message"], frame["connectionId"]) == ("Internal server error", connection_id)
        failed = [i for i in stack.stack.invocations if i.route == "ping" and i.outcome == "error"]
        assert failed and "Runtime.ExitError" in failed[-1].error
    finally:
        stack.stop()
