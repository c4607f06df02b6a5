"""Bad input on every route, through the running local stack with the real `websockets` client (issue 7).

Each bad frame gets a well-formed error frame (or the gateway's close code / handshake status), the
connection keeps working afterwards, and nothing is written half-way: the DynamoDB tables are read
directly (not through our code) to prove it. "Nothing was delivered" is shown with a barrier: after the
bad frame the sender sends a good one, and the first message the recipient sees must be the good one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

from chat.protocol import ERROR_CODES, SENDER_FIELDS
from manifest import load_manifest
from tests.e2e.conftest import in_frames, invocation_of, open_client, recv_until, ws_url
from tests.e2e.reliability_helpers import (  # noqa: F401 - stack_without_rate_limit is this module's `stack`
    assert_still_works,
    first_message,
    memberships_of,
    reply_to,
    rows_of,
    stack_without_rate_limit,
    stored_by,
    uid,
)

pytestmark = pytest.mark.e2e
ACTIONS = load_manifest().client_actions


def assert_error_frame(frame: dict[str, Any], code: str, action: str | None = None) -> None:
    assert frame["type"] == "error", frame
    assert frame["code"] == code, frame
    assert code in ERROR_CODES and isinstance(frame["message"], str) and frame["message"]
    if action is not None:
        assert frame.get("action") == action, frame


# ---- frames that are not a valid request: $default ---------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    ('{"action": "sendMessage", "text": "unterminated', "BAD_REQUEST"),
    ("{not json}", "BAD_REQUEST"),
    ("", "BAD_REQUEST"),
    ("[1, 2, 3]", "BAD_REQUEST"),
    ('"just a string"', "BAD_REQUEST"),
    ("42", "BAD_REQUEST"),
    ("null", "BAD_REQUEST"),
    ('{"action": "deleteEverything"}', "UNKNOWN_ACTION"),
    ('{"action": "$connect"}', "UNKNOWN_ACTION"),
    ('{"action": 42}', "UNKNOWN_ACTION"),
    ('{"action": null}', "UNKNOWN_ACTION"),
    ('{"text": "no action at all"}', "UNKNOWN_ACTION"),
    ('{"action": "SENDMESSAGE"}', "UNKNOWN_ACTION"),  # route keys are case-sensitive
])
async def test_malformed_non_object_or_unknown_action_gets_an_error_frame_and_the_connection_survives(
        stack, body, code):
    user = uid("u_bad")
    ws, _ = await open_client(stack, user)
    async with ws:
        frame = await reply_to(ws, body)
        assert_error_frame(frame, code, action="$default")
        assert frame["validActions"] == list(ACTIONS)
        await assert_still_works(ws)
    assert stored_by(stack, user) == []


# ---- invalid requests on every custom route -------------------------------------------------------------

LONG_ROOM = "r" * 65
LONG_USER = "u" * 129
INVALID = [
    # sendMessage
    ({"action": "sendMessage"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "text": "hi"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "roomId": "lobby", "text": "both"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": ""}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": "   "}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": 42}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": ["bob"], "text": "x"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": LONG_USER, "text": "x"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob smith", "text": "x"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "roomId": LONG_ROOM, "text": "x"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "roomId": "../etc", "text": "x"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": "x", "clientMessageId": "c" * 65}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": "x", "clientMessageId": 7}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": "x", "priority": "high"}, "BAD_REQUEST"),
    ({"action": "sendMessage", "targetUserId": "bob", "text": "x" * 4001}, "PAYLOAD_TOO_LARGE"),
    # broadcast
    ({"action": "broadcast"}, "BAD_REQUEST"),
    ({"action": "broadcast", "text": {"nested": True}}, "BAD_REQUEST"),
    ({"action": "broadcast", "text": "x", "roomId": LONG_ROOM}, "BAD_REQUEST"),
    ({"action": "broadcast", "text": "x", "targetUserId": "bob"}, "BAD_REQUEST"),
    ({"action": "broadcast", "text": "x" * 4001}, "PAYLOAD_TOO_LARGE"),
    # joinRoom / leaveRoom
    ({"action": "joinRoom"}, "BAD_REQUEST"),
    ({"action": "joinRoom", "roomId": ""}, "BAD_REQUEST"),
    ({"action": "joinRoom", "roomId": "has space"}, "BAD_REQUEST"),
    ({"action": "joinRoom", "roomId": LONG_ROOM}, "BAD_REQUEST"),
    ({"action": "joinRoom", "roomId": 12}, "BAD_REQUEST"),
    ({"action": "joinRoom", "roomId": "ok", "extra": 1}, "BAD_REQUEST"),
    ({"action": "leaveRoom"}, "BAD_REQUEST"),
    ({"action": "leaveRoom", "roomId": LONG_ROOM}, "BAD_REQUEST"),
    # getHistory
    ({"action": "getHistory"}, "BAD_REQUEST"),
    ({"action": "getHistory", "roomId": "a", "withUserId": "b"}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": "yes"}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "limit": 0}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "limit": 101}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "limit": "10"}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "limit": True}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "nextToken": "t" * 2049}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "nextToken": "forged-token"}, "BAD_REQUEST"),
    ({"action": "getHistory", "broadcast": True, "nextToken": base64.urlsafe_b64encode(json.dumps(
        {"conversationId": {"S": "dm#alice#bob"}, "messageId": {"S": "0"}}).encode()).decode()}, "BAD_REQUEST"),
    # ping
    ({"action": "ping", "payload": "x"}, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("body", "code"), INVALID,
                         ids=[f"{b['action']}-{i}" for i, (b, _) in enumerate(INVALID)])
async def test_invalid_request_on_each_route_gets_its_error_frame_and_writes_nothing(stack, body, code):
    user = uid("u_inv")
    ws, _ = await open_client(stack, user)
    async with ws:
        frame = await reply_to(ws, body)
        assert_error_frame(frame, code, action=body["action"])
        await assert_still_works(ws)
    assert stored_by(stack, user) == [] and memberships_of(stack, user) == []


async def test_text_far_over_the_limit_but_under_128_kb_is_refused_and_the_socket_stays_open(stack):
    user = uid("u_big")
    ws, _ = await open_client(stack, user)
    async with ws:
        frame = await reply_to(ws, {"action": "broadcast", "text": "x" * 100_000})
        assert_error_frame(frame, "PAYLOAD_TOO_LARGE", action="broadcast")
        assert frame["field"] == "text"
        await assert_still_works(ws)
    assert stored_by(stack, user) == []


# ---- frames the gateway refuses: a message > 128 KB (in frames of 32 KB) and binary ----------------------------------------------

async def _wait_disconnected(stack: Any, connection_id: str) -> dict[str, Any]:
    inv = await invocation_of(stack, "$disconnect", connection_id)
    assert inv.outcome == "ok"
    return inv.event["requestContext"]


async def test_send_message_over_128_kb_closes_with_1009_and_leaves_no_row_and_no_message(stack):
    user, room = uid("u_huge"), uid("room")
    ws, connection_id = await open_client(stack, user, room=room)
    await ws.send(in_frames(json.dumps({"action": "sendMessage", "roomId": room, "text": "x" * (130 * 1024)})))
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, lambda f: False)
    assert ws.close_code == 1009
    assert (await _wait_disconnected(stack, connection_id))["disconnectStatusCode"] == 1009
    assert rows_of(stack, user) == [] and memberships_of(stack, user) == [] and stored_by(stack, user) == []


async def test_binary_frame_on_a_route_closes_with_1003_and_cleans_up(stack):
    user, room = uid("u_bin"), uid("room")
    ws, connection_id = await open_client(stack, user, room=room)
    await ws.send(json.dumps({"action": "sendMessage", "roomId": room, "text": "binary"}).encode())
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, lambda f: False)
    assert ws.close_code == 1003
    assert (await _wait_disconnected(stack, connection_id))["disconnectStatusCode"] == 1003
    assert rows_of(stack, user) == [] and memberships_of(stack, user) == [] and stored_by(stack, user) == []


# ---- identity: the sender cannot be named in the payload --------------------------------------------

@pytest.mark.parametrize("field", sorted(SENDER_FIELDS))
@pytest.mark.parametrize("action", ["sendMessage", "broadcast"])
async def test_naming_the_sender_in_the_payload_is_refused_and_nothing_is_delivered(stack, field, action):
    mallory, bob = uid("u_mallory"), uid("u_bob")
    room = uid("room")
    ws_m, _ = await open_client(stack, mallory, room=room)
    ws_b, _ = await open_client(stack, bob, room=room)
    async with ws_m, ws_b:
        target = {"targetUserId": bob} if action == "sendMessage" else {"roomId": room}
        frame = await reply_to(ws_m, {"action": action, **target, "text": "spoof", field: bob})
        assert_error_frame(frame, "SENDER_NOT_ALLOWED", action=action)
        ack = await reply_to(ws_m, {"action": action, **target, "text": "barrier"})
        assert ack["type"] == "ack"
        seen = await first_message(ws_b)
        assert (seen["text"], seen["from"]) == ("barrier", mallory)
    assert [m["text"] for m in stored_by(stack, mallory)] == ["barrier"]


# ---- targets that do not exist, rooms not joined -----------------------------------------------------

async def test_message_to_a_user_that_does_not_exist_is_not_found_and_not_stored(stack):
    alice = uid("u_alice")
    ws, _ = await open_client(stack, alice)
    async with ws:
        frame = await reply_to(ws, {"action": "sendMessage", "targetUserId": uid("u_nobody"), "text": "hello?"})
        assert_error_frame(frame, "NOT_FOUND", action="sendMessage")
        await assert_still_works(ws)
    assert stored_by(stack, alice) == []


@pytest.mark.parametrize("body", [
    {"action": "sendMessage", "text": "intrude"},
    {"action": "broadcast", "text": "intrude"},
    {"action": "getHistory"},
    {"action": "leaveRoom"},
])
async def test_using_a_room_not_joined_is_refused_and_members_receive_nothing(stack, body):
    outsider, member = uid("u_out"), uid("u_member")
    room = uid("room")
    ws_o, _ = await open_client(stack, outsider)
    ws_m, _ = await open_client(stack, member, room=room)
    async with ws_o, ws_m:
        frame = await reply_to(ws_o, {**body, "roomId": room})
        assert_error_frame(frame, "NOT_A_MEMBER", action=body["action"])
        # a room that nobody ever created answers the same (no existence oracle)
        frame = await reply_to(ws_o, {**body, "roomId": uid("ghost")})
        assert_error_frame(frame, "NOT_A_MEMBER", action=body["action"])
        # barrier: the member's first message is a legitimate one sent afterwards
        assert (await reply_to(ws_o, {"action": "joinRoom", "roomId": room}))["type"] == "joined"
        assert (await reply_to(ws_o, {"action": "sendMessage", "roomId": room, "text": "barrier"}))["type"] == "ack"
        assert (await first_message(ws_m))["text"] == "barrier"
    assert [m["text"] for m in stored_by(stack, outsider)] == ["barrier"]


# ---- handshake: tokens and query strings --------------------------------------------------------------

SECRET_OF = "local-dev-secret-not-for-production"  # emulator.config.DEV_JWT_SECRET


def _token(claims: dict[str, Any], key: str = SECRET_OF, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bad_tokens(user: str) -> dict[str, tuple[str, int]]:
    now = int(time.time())
    good = {"sub": user, "iat": now, "exp": now + 600}
    return {
        "expired": (_token({**good, "exp": now - 3600}), 403),
        "forged-other-secret": (_token(good, key="not-the-secret-at-all-but-long-enough-0123456789"), 403),
        "alg-none": (_unsigned(good), 403),
        "alg-hs512-same-secret": (_token(good, algorithm="HS512"), 403),
        "no-exp": (_token({"sub": user, "iat": now}), 403),
        "no-sub": (_token({"iat": now, "exp": now + 600}), 403),
        "invalid-sub": (_token({**good, "sub": "not a user id!"}), 403),
        "garbage": ("a.b.c", 403),
        "tampered-payload": (_tamper(_token(good), user), 403),
    }


def _tamper(token: str, user: str) -> str:
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(
        {"sub": "admin", "exp": int(time.time()) + 600}).encode()).decode().rstrip("=")
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("case", list(_bad_tokens("x")))
async def test_bad_tokens_are_refused_at_the_handshake_and_register_nothing(stack, case):
    user = uid("u_tok")
    token, status = _bad_tokens(user)[case]
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{stack.ws_url}?token={token}")
    assert err.value.response.status_code == status
    assert rows_of(stack, user) == [] and rows_of(stack, "admin") == []


@pytest.mark.parametrize("query", ["", "?token=", "?Token=abc", "?tokens=abc"])
async def test_missing_or_empty_token_is_401(stack, query):
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{stack.ws_url}{query}")
    assert err.value.response.status_code == 401


async def test_repeated_token_parameters_authenticate_exactly_the_token_the_authorizer_verified(stack):
    # GIVEN two valid tokens for two users in one query string
    alice, bob = uid("u_alice"), uid("u_bob")
    probe = uuid.uuid4().hex
    ws = await websockets.connect(f"{stack.ws_url}?token={stack.mint_token(alice)}&token={stack.mint_token(bob)}"
                                  f"&probe={probe}")
    async with ws:
        inv = await stack.wait_for_invocation(
            lambda i: i.route == "$connect" and (i.event.get("queryStringParameters") or {}).get("probe") == probe)
        verified = jwt.decode(inv.event["queryStringParameters"]["token"], options={"verify_signature": False})
        identity = inv.event["requestContext"]["authorizer"]["userId"]
        # THEN the connection is exactly the user of the single token the authorizer saw, not a mix
        assert identity == verified["sub"] and identity in (alice, bob)
        assert [r["connectionId"] for r in rows_of(stack, identity)] == [inv.event["requestContext"]["connectionId"]]
        other = bob if identity == alice else alice
        assert rows_of(stack, other) == []


async def test_a_valid_token_followed_by_a_forged_one_does_not_connect_as_anyone_else(stack):
    alice = uid("u_alice")
    forged = _token({"sub": "admin", "exp": int(time.time()) + 600}, key="wrong-secret-wrong-secret-wrong-secret")
    try:
        ws = await websockets.connect(f"{stack.ws_url}?token={stack.mint_token(alice)}&token={forged}")
    except InvalidStatus as err:
        assert err.response.status_code == 403  # the last value is the one checked, as on AWS
    else:
        await ws.close()
        pytest.fail("a forged token in the query string was accepted")
    assert rows_of(stack, "admin") == []


async def test_repeated_room_parameters_register_one_consistent_membership(stack):
    user, r1, r2 = uid("u_rooms"), uid("room"), uid("room")
    ws, connection_id = await open_client(stack, user, room=r1)
    await ws.close()
    probe = uuid.uuid4().hex
    ws = await websockets.connect(f"{ws_url(stack, user)}&room={r1}&room={r2}&probe={probe}")
    async with ws:
        inv = await stack.wait_for_invocation(
            lambda i: i.route == "$connect" and (i.event.get("queryStringParameters") or {}).get("probe") == probe)
        chosen = inv.event["queryStringParameters"]["room"]
        cid = inv.event["requestContext"]["connectionId"]
        rows = [r for r in rows_of(stack, user) if r["connectionId"] == cid]
        assert len(rows) == 1 and rows[0]["rooms"] == {chosen}
        assert [m["roomId"] for m in memberships_of(stack, user) if m["connectionId"] == cid] == [chosen]


async def test_many_small_query_parameters_under_the_url_limit_are_accepted(stack):
    user = uid("u_params")
    extra = "&".join(f"p{i}=v" for i in range(400))
    ws = await websockets.connect(f"{ws_url(stack, user)}&{extra}")
    async with ws:
        await assert_still_works(ws)


@pytest.mark.parametrize("pad", [4096, 20_000])
async def test_huge_query_string_is_refused_with_414_and_registers_nothing(stack, pad):
    user = uid("u_huge_q")
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{ws_url(stack, user)}&{'&'.join(['x=y'] * (pad // 4))}")
    assert err.value.response.status_code == 414
    assert rows_of(stack, user) == []


async def test_invalid_room_in_the_query_string_is_refused_with_400_and_registers_nothing(stack):
    user = uid("u_qroom")
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{ws_url(stack, user)}&room={'r' * 65}")
    assert err.value.response.status_code == 400
    assert rows_of(stack, user) == [] and memberships_of(stack, user) == []


# ---- property-based: arbitrary frames through the real gateway ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
frames = st.fixed_dictionaries(
    {"action": st.sampled_from([*ACTIONS, "nope", ""])},
    optional={"text": json_values | st.text(max_size=120), "targetUserId": json_values | st.just("u_prop_peer"),
              "roomId": json_values | st.just("prop-room"), "limit": json_values, "nextToken": json_values,
              "clientMessageId": json_values, "broadcast": json_values, "from": st.text(max_size=5)},
)
bodies = st.one_of(frames.map(json.dumps), st.text(max_size=200), json_values.map(json.dumps))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_frame_through_the_gateway_gets_one_well_formed_reply_and_the_socket_stays_open(stack, body):
    with sync_connect(f"{ws_url(stack, 'u_prop')}") as ws:
        ws.send(body)
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame.get("type") != "message":
                break
        # a function's reply always has a type; the gateway's own error frames have none
        assert isinstance(frame.get("type"), str) and frame["type"], f"gateway error frame: {frame}"
        if frame["type"] == "error":
            assert frame["code"] in ERROR_CODES and isinstance(frame["message"], str)
        ws.send(json.dumps({"action": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"


async def test_concurrent_bad_frames_do_not_disturb_good_traffic(stack):
    # GIVEN a member receiving a stream of good messages while another client floods bad frames
    sender, receiver, flooder = uid("u_s"), uid("u_r"), uid("u_f")
    room = uid("room")
    ws_s, _ = await open_client(stack, sender, room=room)
    ws_r, _ = await open_client(stack, receiver, room=room)
    ws_f, _ = await open_client(stack, flooder, room=room)
    async with ws_s, ws_r, ws_f:
        bad = ["{", "[]", json.dumps({"action": "sendMessage", "roomId": room, "text": ""}),
               json.dumps({"action": "sendMessage", "roomId": room, "text": "x", "from": sender})]

        async def flood() -> None:
            for i in range(40):
                await ws_f.send(bad[i % len(bad)])
            for _ in range(40):
                assert (await recv_until(ws_f, lambda f: f.get("type") != "message"))["type"] == "error"

        async def talk() -> list[str]:
            sent = []
            for i in range(10):
                text = f"good-{i}"
                ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": text})
                assert ack["type"] == "ack"
                sent.append(text)
            return sent

        _, sent = await asyncio.gather(flood(), talk())
        got = [(await first_message(ws_r))["text"] for _ in sent]
        assert got == sent  # every good message, once, in order, and nothing from the flood
    assert stored_by(stack, flooder) == []
