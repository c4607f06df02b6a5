"""The real functions behind the emulator: direct, room and broadcast messages and history, in both
authorizer modes (hs256 secret; oidc with the stack's own identity provider) and with the token in
the URL or in Sec-WebSocket-Protocol."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import is_type, make_stack, open_client, recv_until, room_chat

pytestmark = pytest.mark.e2e

AUTH = [("hs256", "query"), ("hs256", "subprotocol"), ("oidc", "query"), ("oidc", "subprotocol")]


@pytest.fixture(scope="module", params=AUTH, ids=[f"{mode}-{via}" for mode, via in AUTH])
def chat(request, dynamodb_endpoint):
    """(stack, how clients send their token): a stack per combination."""
    mode, via = request.param
    s = make_stack(dynamodb_endpoint, auth_mode=mode)
    yield s, via
    s.stop()


async def test_direct_message_reaches_every_connection_of_the_target_user(chat):
    stack, via = chat
    alice, _ = await open_client(stack, "u_dm_alice", via)
    bob, _ = await open_client(stack, "u_dm_bob", via)
    async with alice, bob:
        await alice.send(json.dumps({"action": "sendMessage", "targetUserId": "u_dm_bob", "text": "hi bob"}))
        ack = await recv_until(alice, is_type("ack"))
        message = await recv_until(bob, is_type("message"))
    assert ack["delivery"]["delivered"] >= 1
    assert (message["kind"], message["from"], message["text"]) == ("direct", "u_dm_alice", "hi bob")


async def test_room_message_reaches_members_and_history_returns_it(chat):
    stack, via = chat
    result = await room_chat(stack, "e2e", "hello room", via=via)
    assert [j["roomId"] for j in result["joined"]] == ["e2e-room", "e2e-room"]
    message = result["message"]
    assert (message["kind"], message["roomId"], message["text"]) == ("room", "e2e-room", "hello room")
    assert "hello room" in [m["text"] for m in result["history"]["messages"]]


async def test_broadcast_reaches_other_connected_clients(chat):
    stack, via = chat
    alice, _ = await open_client(stack, "u_bc_alice", via)
    bob, _ = await open_client(stack, "u_bc_bob", via)
    async with alice, bob:
        await alice.send(json.dumps({"action": "broadcast", "text": "to everyone"}))
        message = await recv_until(bob, lambda f: f.get("type") == "message" and f.get("text") == "to everyone")
    assert message["kind"] == "broadcast" and message["from"] == "u_bc_alice"
