"""Sandboxes started on demand (`make run`'s default, ``--sandboxes on-demand``): as Lambda creates an
execution environment for a function's first request, and a function never invoked holds no memory."""

from __future__ import annotations

import json
import os

import pytest

from tests.e2e.conftest import is_type, open_client, recv_until, stack_fixture

pytestmark = pytest.mark.e2e
WAIT_S = 30.0  # the first invocation of each function starts its sandbox (a cold start)

on_demand_stack = stack_fixture(function_workers=1, sandboxes_on_demand=True)


async def test_on_demand_a_function_gets_its_sandbox_from_its_first_invocation_and_none_before(on_demand_stack):
    # GIVEN a stack whose sandboxes start on demand (`make run`'s default): every function was loaded
    # once at start (an import error would be reported then), and no sandbox is left running
    runtime = on_demand_stack.runtime
    assert sorted(runtime.loaded_names()) == sorted(runtime.manifest.functions) and not runtime.load_errors()
    assert runtime.worker_pids() == []
    # WHEN a client connects and pings
    ws, _ = await open_client(on_demand_stack, "u_on_demand")
    async with ws:
        await ws.send(json.dumps({"action": "ping"}))
        assert (await recv_until(ws, is_type("pong"), WAIT_S))["type"] == "pong"
        # THEN exactly the functions invoked so far have a sandbox, one each, none of them the gateway
        invoked = {name: runtime.worker_pids(name) for name in runtime.manifest.functions if runtime.worker_pids(name)}
        manifest = runtime.manifest
        assert set(invoked) == {manifest.authorizer.function, manifest.routes["$connect"].function,
                                manifest.routes["ping"].function}
        assert all(len(pids) == 1 and os.getpid() not in pids for pids in invoked.values())
