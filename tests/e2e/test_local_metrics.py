"""The local stack counts what the functions print in CloudWatch's embedded metric format, as CloudWatch
would: a scripted chat over real WebSocket clients produces the expected delivered / gone / failed counts,
served at /_local/metrics.json, in both runtimes (handlers on the stack's threads, or in worker processes)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import websockets

from emulator.emf import LocalMetrics
from tests.e2e.conftest import REPO, is_type, make_stack, open_client, recv_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=[0, 2], ids=["threads", "workers"])
def metrics_stack(request, dynamodb_endpoint):
    s = make_stack(dynamodb_endpoint, function_workers=request.param)
    yield s
    s.stop()


def get_json(url: str, method: str = "GET") -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


async def send_to_room(ws: Any, room: str, text: str, client_message_id: str) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "sendMessage", "roomId": room, "text": text,
                              "clientMessageId": client_message_id}))
    return await recv_until(ws, is_type("ack"))


def expected(metrics: LocalMetrics) -> bool:
    return (metrics.total("DeliveriesGone") >= 2 and metrics.total("DuplicateMessages") >= 1
            and metrics.total("AuthorizerDenials") >= 1)


async def scripted_chat(stack: Any, prefix: str) -> None:
    room = f"{prefix}-metrics-room"
    alice, _ = await open_client(stack, f"u_{prefix}_alice")
    bob, _ = await open_client(stack, f"u_{prefix}_bob")
    carol, _ = await open_client(stack, f"u_{prefix}_carol", via="subprotocol")
    async with alice, bob, carol:
        for ws in (alice, bob, carol):
            await ws.send(json.dumps({"action": "joinRoom", "roomId": room}))
            await recv_until(ws, is_type("joined"))
        # 1. delivered to bob and carol (the sender's own connection is skipped)
        await send_to_room(alice, room, "one", "m-1")
        for ws in (bob, carol):
            await recv_until(ws, is_type("message"))
        # 2. the gateway refuses every post with 403: two deliveries failed for good (403 is not retried)
        stack.set_faults(post_error_rate=1.0, post_error_status=403)
        await send_to_room(alice, room, "two", "m-2")
        # 3. every post answered 410 Gone: two connections gone
        stack.set_faults(post_error_rate=1.0, post_error_status=410)
        await send_to_room(alice, room, "three", "m-3")
        stack.set_faults(post_error_rate=0.0)
        # 4. a resend of the first message: answered as a duplicate, not stored or counted again
        ack = await send_to_room(alice, room, "one", "m-1")
        assert ack.get("duplicate") is True
    # 5. a forged token: the authorizer denies it
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"{stack.ws_url}?token=not-a-jwt")


def run_chat(stack: Any, prefix: str) -> None:
    """The scripted chat on a thread of its own (a Playwright sync session may own this thread's loop)."""
    with ThreadPoolExecutor(1) as chat:
        chat.submit(lambda: asyncio.run(scripted_chat(stack, prefix))).result()


def test_a_scripted_chat_produces_the_delivery_counts_cloudwatch_would_show(metrics_stack):
    # GIVEN a stack counting from zero
    stack = metrics_stack
    assert get_json(f"{stack.base_url}/_local/metrics.json", "DELETE")["documents"] == 0

    # WHEN three users chat in a room, with the gateway refusing posts (403) and then answering 410 Gone
    run_chat(stack, f"metrics{stack.config.function_workers}")
    stack.call(stack.metrics.wait_for(expected))

    # THEN the JSON endpoint shows the counts CloudWatch would aggregate from the functions' EMF lines
    snapshot = get_json(f"{stack.base_url}/_local/metrics.json")
    assert snapshot["rejected"] == 0, snapshot["lastRejection"]
    totals = snapshot["totals"]
    assert (totals["DeliveriesDelivered"], totals["DeliveriesFailed"], totals["DeliveriesGone"]) == (2, 2, 2)
    assert (totals["MessagesSent"], totals["DuplicateMessages"], totals["AuthorizerDenials"]) == (3, 1, 1)
    by_key = {(m["name"], tuple(sorted(m["dimensions"].items()))): m for m in snapshot["metrics"]}
    room_sent = by_key[("MessagesSent", (("FunctionName", "send_message"), ("Kind", "room")))]
    assert (room_sent["sum"], room_sent["sampleCount"], room_sent["unit"]) == (3, 3, "Count")
    assert by_key[("AuthorizerDenials", (("FunctionName", "authorizer"), ("Reason", "invalid_token")))]["sum"] == 1
    delivered = by_key[("DeliveriesDelivered", (("FunctionName", "send_message"),))]
    assert delivered["sampleCount"] == 3  # one value per invocation that fanned out (0 is a value too)
    # AND the time to the last delivery was sampled for the one message that reached anyone
    [latency] = [m for m in snapshot["metrics"] if m["name"] == "FanoutTimeToLastDelivery"]
    assert latency["sampleCount"] == 1 and latency["unit"] == "Milliseconds" and latency["minimum"] >= 0


def test_the_metrics_page_and_the_demo_panel_are_served(metrics_stack):
    # GIVEN the stack / WHEN a developer opens the metrics page and the demo page
    with urllib.request.urlopen(f"{metrics_stack.base_url}/_local/metrics", timeout=10) as response:  # noqa: S310
        page = response.read().decode()
    with urllib.request.urlopen(metrics_stack.demo_url, timeout=10) as response:  # noqa: S310
        demo = response.read().decode()
    # THEN both poll the JSON endpoint through the same script
    assert "metrics.js" in page and "metrics-table" in page
    assert "metrics.js" in demo and 'id="metrics-panel"' in demo


@pytest.mark.browser
def test_the_demo_panel_and_the_metrics_page_count_live_in_a_real_browser(browser, metrics_stack):
    # GIVEN the demo page and the metrics page open in Chromium, counting from zero
    stack = metrics_stack
    get_json(f"{stack.base_url}/_local/metrics.json", "DELETE")
    demo, page = browser.new_page(viewport={"width": 1280, "height": 900}), browser.new_page(
        viewport={"width": 1280, "height": 760})
    demo.goto(stack.demo_url)
    demo.wait_for_selector("body[data-ready=true]")
    page.goto(f"{stack.base_url}/_local/metrics")
    demo.wait_for_selector("#metrics-headline [data-metric=DeliveriesDelivered] .value:text-is('0')")
    # WHEN the scripted chat runs
    run_chat(stack, f"browser{stack.config.function_workers}")
    # THEN both show its counts without a reload (they poll /_local/metrics.json)
    for name, value in (("DeliveriesDelivered", "2"), ("DeliveriesFailed", "2"), ("DeliveriesGone", "2"),
                        ("MessagesSent", "3"), ("DuplicateMessages", "1"), ("AuthorizerDenials", "1")):
        for p in (demo, page):
            p.wait_for_selector(f"#metrics-headline [data-metric={name}] .value:text-is('{value}')", timeout=15_000)
    page.wait_for_selector("#metrics-table tr[data-metric=FanoutTimeToLastDelivery]")
    if stack.config.function_workers and (REPO / "build").is_dir():
        page.screenshot(path=str(REPO / "build" / "local-metrics.png"))
        demo.locator("#metrics-panel").screenshot(path=str(REPO / "build" / "demo-metrics-panel.png"))
    demo.close()
    page.close()
