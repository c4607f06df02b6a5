"""Faults through the local stack's fault injection, with real clients (issue 7).

Faults are set the documented ways: ``stack.set_faults(...)`` from Python and ``POST /_local/faults``
over HTTP (docs/reliability.md). Every test resets them, and checks from the clients' side that each
intended recipient got each message exactly once, plus the tables directly (bypassing the proxy).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from typing import Any

import boto3
import pytest

from emulator import Faults
from tests.e2e.conftest import open_client
from tests.e2e.reliability_helpers import (  # noqa: F401 - stack_without_rate_limit is this module's `stack`
    assert_still_works,
    first_message,
    fresh_room,
    reply_to,
    rows_of,
    stack_without_rate_limit,
    stored_by,
    table,
    uid,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def no_faults_after(stack):
    yield
    stack.set_faults(Faults())


def set_faults_over_http(stack: Any, **changes: Any) -> dict[str, Any]:
    request = urllib.request.Request(f"{stack.base_url}/_local/faults", data=json.dumps(changes).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL of the test stack
        return json.loads(response.read())


async def send_until_acked(ws: Any, body: dict[str, Any], attempts: int = 20) -> tuple[dict[str, Any], int]:
    """What a careful client does: resend the same frame (same clientMessageId) on a retryable error."""
    for attempt in range(attempts):
        frame = await reply_to(ws, body)
        if frame.get("type") == "ack":
            return frame, attempt
        assert frame.get("code") == "THROTTLED" or frame.get("message") == "Internal server error", frame
    raise AssertionError(f"no ack after {attempts} attempts")


async def collect(ws: Any, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    return [await first_message(ws, timeout) for _ in range(count)]


# ---- @connections faults --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500])
async def test_transient_post_errors_are_retried_and_every_member_gets_every_message_once_in_order(stack, status):
    # GIVEN 10 % of @connections POSTs failing with a retryable status (set over the admin endpoint)
    async with fresh_room(stack, 5) as (room, clients):
        sender, receivers = clients[0], clients[1:]
        applied = set_faults_over_http(stack, post_error_rate=0.1, post_error_status=status)
        assert (applied["post_error_rate"], applied["post_error_status"]) == (0.1, status)
        # WHEN the sender sends 12 messages
        texts = [f"m{i}" for i in range(12)]
        for i, text in enumerate(texts):
            ack, _ = await send_until_acked(sender[0], {"action": "sendMessage", "roomId": room, "text": text,
                                                        "clientMessageId": f"c{i}"})
            assert ack["delivery"]["failed"] == 0 and ack["delivery"]["delivered"] == len(receivers)
        # THEN each receiver has all 12, once each, in send order
        for ws, _, _ in receivers:
            assert [f["text"] for f in await collect(ws, len(texts))] == texts


async def test_a_410_removes_only_the_gone_recipients_never_the_sender(stack):
    async with fresh_room(stack, 3) as (room, clients):
        (ws_s, sender, sender_cid), *receivers = clients
        stack.set_faults(post_error_rate=1.0, post_error_status=410)
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "x"})
        assert ack["delivery"] == {"delivered": 0, "gone": 2, "failed": 0, "continued": False}
        stack.set_faults(Faults())
        for _, user, _ in receivers:
            assert rows_of(stack, user) == []
        assert [r["connectionId"] for r in rows_of(stack, sender)] == [sender_cid]
        await assert_still_works(ws_s)


@pytest.mark.parametrize("status", [403, 429])
async def test_persistent_post_errors_are_reported_failed_and_keep_the_registry(stack, status):
    async with fresh_room(stack, 3) as (room, clients):
        (ws_s, _, _), *receivers = clients
        stack.set_faults(post_error_rate=1.0, post_error_status=status)
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "lost-on-purpose"})
        assert ack["delivery"] == {"delivered": 0, "gone": 0, "failed": 2, "continued": False}
        stack.set_faults(Faults())
        for _, user, _ in receivers:
            assert len(rows_of(stack, user)) == 1  # neither a 403 nor a 429 means "gone"
        # the failed message was stored (history has it) and the next one is delivered normally
        assert (await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "next"}))["type"] == "ack"
        for ws, _, _ in receivers:
            assert (await first_message(ws))["text"] == "next"


async def test_post_latency_slows_the_ack_but_loses_nothing(stack):
    async with fresh_room(stack, 4) as (room, clients):
        (ws_s, _, _), *receivers = clients
        stack.set_faults(post_latency_ms=150)
        started = time.monotonic()
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "slow"})
        assert time.monotonic() - started >= 0.15  # the ack waits for the (slow) fan-out
        assert ack["delivery"]["delivered"] == 3
        for ws, _, _ in receivers:
            assert (await first_message(ws))["text"] == "slow"


# ---- DynamoDB throttling ------------------------------------------------------------------------

async def test_persistent_dynamodb_throttling_answers_throttled_and_writes_nothing(stack):
    async with fresh_room(stack, 2) as (room, clients):
        (ws_s, sender, _), (ws_r, _, _) = clients
        body = {"action": "sendMessage", "roomId": room, "text": "t", "clientMessageId": "once"}
        stack.set_faults(dynamodb_throttle_rate=1.0)
        frame = await reply_to(ws_s, body)
        assert (frame["type"], frame["code"]) == ("error", "THROTTLED")
        stack.set_faults(Faults())
        assert stored_by(stack, sender) == []
        # WHEN the client resends the same frame THEN it is stored and delivered once
        ack = await reply_to(ws_s, body)
        assert ack["type"] == "ack" and ack["duplicate"] is False
        assert (await first_message(ws_r))["text"] == "t"
        assert (await reply_to(ws_s, body))["duplicate"] is True
        assert [m["text"] for m in stored_by(stack, sender) if "text" in m] == ["t"]


async def test_intermittent_dynamodb_throttling_is_absorbed_without_loss_or_duplicates(stack):
    # GIVEN 15 % of DynamoDB data-plane calls throttled; a client that resends on THROTTLED
    async with fresh_room(stack, 3) as (room, clients):
        (ws_s, sender, _), *receivers = clients
        stack.set_faults(dynamodb_throttle_rate=0.15)
        texts = [f"d{i}" for i in range(10)]
        for i, text in enumerate(texts):
            await send_until_acked(ws_s, {"action": "sendMessage", "roomId": room, "text": text,
                                          "clientMessageId": f"d{i}"})
        stack.set_faults(Faults())
        for ws, _, _ in receivers:
            got = [f["text"] for f in await collect(ws, len(texts))]
            assert got == texts
        stored = Counter(m["text"] for m in stored_by(stack, sender) if "text" in m)
        assert stored == Counter(texts)


# ---- function crashes and duplicate invocations ----------------------------------------------------

async def test_a_crashed_invocation_answers_internal_server_error_and_the_resend_delivers_once(stack):
    async with fresh_room(stack, 2) as (room, clients):
        (ws_s, sender, _), (ws_r, _, _) = clients
        body = {"action": "sendMessage", "roomId": room, "text": "crash", "clientMessageId": "k1"}
        stack.set_faults(lambda_error_rate=1.0, lambda_functions=("send_message",))
        frame = await reply_to(ws_s, body)
        assert frame["message"] == "Internal server error" and "requestId" in frame
        assert stored_by(stack, sender) == []
        await assert_still_works(ws_s)  # other functions are unaffected, the socket stays open
        stack.set_faults(Faults())
        assert (await reply_to(ws_s, body))["duplicate"] is False
        assert (await first_message(ws_r))["text"] == "crash"


async def test_the_same_event_invoked_again_through_the_lambda_api_is_neither_stored_nor_delivered_twice(stack):
    # GIVEN a message that was sent and delivered
    async with fresh_room(stack, 2) as (room, clients):
        (ws_s, sender, sender_cid), (ws_r, _, _) = clients
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "one",
                                    "clientMessageId": "replay"})
        assert (await first_message(ws_r))["text"] == "one"
        inv = await stack.wait_for_invocation(
            lambda i: i.route == "sendMessage" and i.event["requestContext"]["connectionId"] == sender_cid)
        # WHEN Lambda runs the very same event again (at-least-once delivery)
        client = boto3.client("lambda", endpoint_url=stack.lambda_url, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        result = await asyncio.to_thread(client.invoke, FunctionName="send_message",
                                         Payload=json.dumps(inv.event).encode())
        replay = json.loads(json.loads(result["Payload"].read())["body"])
        # THEN the same message id is answered as a duplicate, and the receiver sees only the next message
        assert (replay["duplicate"], replay["messageId"]) == (True, ack["messageId"])
        await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "two"})
        assert (await first_message(ws_r))["text"] == "two"
        assert [m["text"] for m in stored_by(stack, sender) if "text" in m] == ["one", "two"]


# ---- a missed $disconnect, expired rows still present ------------------------------------------------

def _plant_stale_connection(stack: Any, room: str, connection_id: str, user: str, expires_in_s: int) -> None:
    """What a missed $disconnect leaves behind: rows for a connection the gateway no longer has."""
    now = int(time.time())
    table(stack, "CONNECTIONS_TABLE").put_item(Item={
        "connectionId": connection_id, "userId": user, "shard": 0, "connectedAt": now * 1000,
        "rooms": {room}, "expiresAt": now + expires_in_s})
    table(stack, "ROOM_MEMBERS_TABLE").put_item(Item={
        "roomId": room, "connectionId": connection_id, "userId": user, "joinedAt": now * 1000,
        "expiresAt": now + expires_in_s})


async def test_a_stale_row_from_a_missed_disconnect_gets_410_and_is_removed(stack):
    async with fresh_room(stack, 2) as (room, clients):
        (ws_s, _, _), (ws_r, _, _) = clients
        ghost = uid("u_ghost")
        _plant_stale_connection(stack, room, "GhostConnId0=", ghost, expires_in_s=3600)
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "hi"})
        assert ack["delivery"] == {"delivered": 1, "gone": 1, "failed": 0, "continued": False}
        assert (await first_message(ws_r))["text"] == "hi"
        assert rows_of(stack, ghost) == []
        assert [m for m in table(stack, "ROOM_MEMBERS_TABLE").query(
            KeyConditionExpression="roomId = :r", ExpressionAttributeValues={":r": room})["Items"]
                if m["connectionId"] == "GhostConnId0="] == []


async def test_an_expired_row_not_yet_deleted_by_ttl_is_never_posted_to(stack):
    async with fresh_room(stack, 2) as (room, clients):
        (ws_s, _, _), _ = clients
        _plant_stale_connection(stack, room, "ExpiredConn0=", uid("u_expired"), expires_in_s=-60)
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "hi"})
        assert ack["delivery"] == {"delivered": 1, "gone": 0, "failed": 0, "continued": False}


async def test_sending_from_a_connection_whose_row_is_gone_says_not_connected(stack):
    # GIVEN a live socket whose registry row vanished (e.g. deleted after a spurious 410)
    user = uid("u_orphan")
    ws, cid = await open_client(stack, user)
    table(stack, "CONNECTIONS_TABLE").delete_item(Key={"connectionId": cid})
    async with ws:
        frame = await reply_to(ws, {"action": "broadcast", "text": "anyone?"})
        assert (frame["type"], frame["code"]) == ("error", "NOT_CONNECTED")
    assert stored_by(stack, user) == []
