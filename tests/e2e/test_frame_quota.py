"""API Gateway's frame quota through the gateway, with a real `websockets` client: a message of up to
128 KB may come as several frames of at most 32 KB each, but one larger frame closes the
connection with 1009 (AWS: "Quotas for configuring and running a WebSocket API")."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import (
    FRAME_BYTES,
    in_frames,
    invocation_of,
    is_type,
    open_client,
    recv_until,
    stack_fixture,
)

pytestmark = pytest.mark.e2e

# A text of 25,600 four-byte characters (100 KB) passes the handler's own limit (MAX_TEXT_CHARS counts
# characters) here, so the whole message goes through every layer.
stack = stack_fixture(extra_env={"MAX_TEXT_CHARS": "30000", "RATE_LIMIT_PER_MINUTE": "100000"})


async def test_a_100_kb_message_in_32_kb_frames_is_reassembled_routed_and_delivered(stack):
    # GIVEN two members of a room
    room = "frames-room"
    alice, alice_id = await open_client(stack, "u_frames_alice", room=room)
    bob, _ = await open_client(stack, "u_frames_bob", room=room)
    text = "".join(chr(0x1F600 + i % 64) for i in range(25 * 1024))  # emoji: 4 bytes each in UTF-8
    body = json.dumps({"action": "sendMessage", "roomId": room, "text": text, "clientMessageId": "big-1"},
                      ensure_ascii=False)
    frames = in_frames(body)
    assert len(body.encode()) > 100 * 1024 and len(frames) == 4
    assert max(len(f.encode()) for f in frames) <= FRAME_BYTES
    async with alice, bob:
        # WHEN alice sends it as four frames of at most 32 KB
        await alice.send(frames)
        # THEN sendMessage got the whole message, she gets her ack and bob the complete text
        ack = await recv_until(alice, is_type("ack"), 20)
        message = await recv_until(bob, is_type("message"), 20)
    assert (ack["clientMessageId"], ack["delivery"]["delivered"]) == ("big-1", 1)
    assert message["text"] == text and message["messageId"] == ack["messageId"]
    routed = await stack.wait_for_invocation(
        lambda i: i.route == "sendMessage" and i.event["requestContext"]["connectionId"] == alice_id)
    assert routed.event["body"] == body and routed.outcome == "ok"


async def test_one_frame_of_40_kb_closes_the_connection_with_1009_and_is_never_routed(stack):
    # GIVEN a connected client
    ws, connection_id = await open_client(stack, "u_frames_big", room="frames-big")
    # WHEN it sends a 40 KB message as one frame (under the 128 KB message quota)
    await ws.send(json.dumps({"action": "ping", "pad": "x" * (40 * 1024)}))
    # THEN the gateway closes it with 1009 and $disconnect says so
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, lambda frame: False)
    assert ws.close_code == 1009
    disconnect = await invocation_of(stack, "$disconnect", connection_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1009
    # AND the frame reached no route (only the authorizer, $connect and $disconnect ran for it)
    routes = [i.route for i in stack.invocations if i.event.get("requestContext", {}).get("connectionId") == connection_id]
    assert set(routes) <= {"$connect:authorizer", "$connect", "$disconnect"}


@pytest.mark.parametrize("size, closed", [(FRAME_BYTES, False), (FRAME_BYTES + 1, True)])
async def test_the_frame_quota_is_exactly_32_kb(stack, size, closed):
    ws, _ = await open_client(stack, f"u_frames_edge{size}")
    prefix = '{"action": "ping", "pad": "'
    body = prefix + "x" * (size - len(prefix) - 2) + '"}'
    assert len(body.encode()) == size
    await ws.send(body)
    if closed:
        with pytest.raises(ConnectionClosed):
            await recv_until(ws, lambda frame: False)
        assert ws.close_code == 1009
    else:
        async with ws:  # answered by the route: the socket stayed open
            assert (await recv_until(ws, lambda frame: "type" in frame or "message" in frame))["type"] == "error"


async def test_frames_sent_before_an_oversized_one_are_still_routed(stack):
    # GIVEN a client that writes a ping and then a 40 KB frame right after it
    ws, connection_id = await open_client(stack, "u_frames_then_big")
    await ws.send(json.dumps({"action": "ping"}))
    await ws.send("y" * (40 * 1024))
    # THEN the gateway closes the connection with 1009 ...
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, lambda frame: False)
    assert ws.close_code == 1009
    # ... after routing the ping (its pong may be dropped: the connection closes while it runs)
    ping = await invocation_of(stack, "ping", connection_id)
    assert ping.event["body"] == '{"action": "ping"}'
