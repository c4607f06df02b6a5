"""Quotas with tiny configured limits: idle timeout, max connection duration, and two-way vs one-way routes (a manifest variant where ping has no route response)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from emulator import Quotas
from manifest import load_manifest
from tests.e2e.conftest import REPO, invocation_of, make_stack, open_client, recv_json

pytestmark = pytest.mark.e2e

IDLE_S = 1.0
MAX_S = 2.5


@pytest.fixture(scope="module")
def tight_stack(dynamodb_endpoint, tmp_path_factory):
    document = load_manifest(REPO).document()
    document["routes"]["ping"]["routeResponse"] = False  # a one-way route
    path = tmp_path_factory.mktemp("manifest") / "one-way-ping.json"
    path.write_text(json.dumps(document))
    quotas = Quotas(idle_timeout_s=IDLE_S, max_connection_s=MAX_S,
                    throttling_rate_limit=10_000, throttling_burst_limit=10_000)
    s = make_stack(dynamodb_endpoint, quotas=quotas, manifest_path=path)
    yield s
    s.stop()


async def closed(ws, timeout: float) -> bool:
    """Wait until the server closes ``ws`` (True) or ``timeout`` passes (False), draining frames."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


async def test_idle_connection_is_closed_with_1001_and_fires_disconnect(tight_stack):
    ws, connection_id = await open_client(tight_stack, "u_idle")
    assert await closed(ws, timeout=IDLE_S + 5)
    assert ws.close_code == 1001
    inv = await invocation_of(tight_stack, "$disconnect", connection_id)
    assert (inv.event["requestContext"]["disconnectStatusCode"],
            inv.event["requestContext"]["disconnectReason"]) == (1001, "Going away")


async def test_active_connection_is_closed_at_the_max_duration(tight_stack):
    ws, connection_id = await open_client(tight_stack, "u_old")
    loop = asyncio.get_running_loop()
    started = loop.time()
    # keep it active (one message per IDLE_S / 3) until the gateway closes it for its age
    while not await closed(ws, timeout=IDLE_S / 3):
        await ws.send("keep-alive")
        assert loop.time() - started < MAX_S + 5, "not closed at the max connection duration"
    assert ws.close_code == 1001 and loop.time() - started >= MAX_S - 0.5
    inv = await invocation_of(tight_stack, "$disconnect", connection_id)
    assert inv.event["requestContext"]["disconnectStatusCode"] == 1001


async def test_one_way_route_result_is_not_sent_to_the_caller(tight_stack):
    ws, connection_id = await open_client(tight_stack, "u_oneway")
    async with ws:
        await ws.send(json.dumps({"action": "ping"}))
        inv = await invocation_of(tight_stack, "ping", connection_id)
        assert inv.outcome == "ok" and "pong" in inv.result["body"]  # the function did answer ...
        await ws.send("not json")
        frame = await recv_json(ws)
    assert frame["type"] == "error"  # ... but the first frame the client gets is $default's

