"""The real functions behind the emulator: direct, room and broadcast messages and history."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import is_type, open_client, recv_until, room_chat

pytestmark = pytest.mark.e2e


async def test_direct_message_reaches_every_connection_of_the_target_user(stack):
    alice, _ = await open_client(stack, "u_dm_alice")
    bob, _ = await open_client(stack, "u_dm_bob")
    async with alice, bob:
        await alice.send(json.dumps({"action": "sendMessage", "targetUserId": "u_dm_bob", "text": "hi bob"}))
        ack = await recv_until(alice, is_type("ack"))
        message = await recv_until(bob, is_type("message"))
    assert ack["delivery"]["delivered"] >= 1
    assert (message["kind"], message["from"], message["text"]) == ("direct", "u_dm_alice", "hi bob")


async def test_room_message_reaches_members_and_history_returns_it(stack):
    chat = await room_chat(stack, "e2e", "hello room")
    assert [j["roomId"] for j in chat["joined"]] == ["e2e-room", "e2e-room"]
    message = chat["message"]
    assert (message["kind"], message["roomId"], message["text"]) == ("room", "e2e-room", "hello room")
    assert "hello room" in [m["text"] for m in chat["history"]["messages"]]


async def test_broadcast_reaches_other_connected_clients(stack):
    alice, _ = await open_client(stack, "u_bc_alice")
    bob, _ = await open_client(stack, "u_bc_bob")
    async with alice, bob:
        await alice.send(json.dumps({"action": "broadcast", "text": "to everyone"}))
        message = await recv_until(bob, lambda f: f.get("type") == "message" and f.get("text") == "to everyone")
    assert message["kind"] == "broadcast" and message["from"] == "u_bc_alice"
