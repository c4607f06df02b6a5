"""Every route's handler: happy path, and bad input gets a well-formed error frame."""

import json

import pytest

from chat.models import Connection, RoomMember

from .conftest import MANIFEST, ROOT, FakeContext, connect, connect_event, handler, message_event, send


def test_every_manifest_function_has_its_handler_file_and_every_function_folder_is_in_the_manifest():
    for name, fn in MANIFEST.functions.items():
        assert (ROOT / "functions" / name / fn.handler_file).is_file(), name
    assert {p.name for p in (ROOT / "functions").iterdir() if p.is_dir() and not p.name.startswith("_")} == set(
        MANIFEST.functions)


@pytest.mark.parametrize("body", ["not json", "[]", "{}", '{"action": "dance"}', '{"action": 5}'])
def test_default_route_names_the_valid_actions(aws, body):
    reply = send("c1=", "u_1", body)
    assert reply["type"] == "error" and reply["code"] in {"BAD_REQUEST", "UNKNOWN_ACTION"}
    assert reply["validActions"] == list(MANIFEST.client_actions)


def test_default_route_without_client_actions_configured_says_which_variable_is_missing(aws, env):
    # GIVEN a function environment without CLIENT_ACTIONS (Terraform and the emulator always set it)
    env.delenv("CLIENT_ACTIONS")
    from chat import clients

    clients.reset()
    # WHEN an unknown action reaches $default / THEN the reply names the missing variable
    reply = send("c1=", "u_1", {"action": "dance"})
    assert (reply["code"], reply["message"]) == ("CONFIGURATION_ERROR",
                                                 "missing required environment variable: CLIENT_ACTIONS")


@pytest.mark.parametrize("body", [
    {"action": "sendMessage"},
    {"action": "sendMessage", "targetUserId": 7, "text": "x"},
    {"action": "broadcast"},
    {"action": "broadcast", "text": ""},
    {"action": "joinRoom"},
    {"action": "joinRoom", "roomId": "has space"},
    {"action": "leaveRoom", "roomId": ""},
    {"action": "getHistory"},
    {"action": "getHistory", "roomId": "r", "limit": "ten"},
    {"action": "ping", "extra": 1},
])
def test_bad_input_on_every_route_gets_a_bad_request_frame_and_writes_nothing(aws, management, body):
    connect("c1=", "u_1")
    before = Connection.get("c1=").attribute_values
    reply = send("c1=", "u_1", body)
    assert (reply["type"], reply["code"], reply["action"]) == ("error", "BAD_REQUEST", body["action"])
    assert Connection.get("c1=").rooms == before.get("rooms") and list(RoomMember.scan()) == []
    assert management.posts == []


def test_join_leave_and_ping_answer_the_caller(aws):
    connect("c1=", "u_1")
    assert send("c1=", "u_1", {"action": "joinRoom", "roomId": "lobby"}) == {
        "type": "joined", "roomId": "lobby", "alreadyMember": False}
    assert send("c1=", "u_1", {"action": "leaveRoom", "roomId": "lobby"}) == {"type": "left", "roomId": "lobby"}
    assert send("c1=", "u_1", {"action": "leaveRoom", "roomId": "lobby"})["code"] == "NOT_A_MEMBER"
    assert send("c1=", "u_1", {"action": "ping"})["type"] == "pong"


def test_ping_from_an_unregistered_connection_says_so(aws):
    assert send("ghost=", "u_1", {"action": "ping"})["code"] == "NOT_CONNECTED"


def test_text_over_the_configured_limit_is_refused(aws, env, management):
    env.setenv("MAX_TEXT_CHARS", "5")
    connect("a=", "alice")
    connect("b=", "bob")
    reply = send("a=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "too long"})
    assert (reply["code"], reply["field"]) == ("PAYLOAD_TOO_LARGE", "text")


def test_connect_without_authorizer_identity_is_rejected(aws):
    event = connect_event("c1=", "u_1")
    del event["requestContext"]["authorizer"]
    assert handler("connect")(event, FakeContext()) == {"statusCode": 403}
    assert list(Connection.scan()) == []


def test_connect_with_an_invalid_room_is_rejected_without_writing(aws):
    assert handler("connect")(connect_event("c1=", "u_1", room="bad room"), FakeContext()) == {"statusCode": 400}
    assert list(Connection.scan()) == []


def test_route_without_authorizer_context_answers_forbidden(aws):
    event = message_event("c1=", "u_1", {"action": "broadcast", "text": "x"})
    del event["requestContext"]["authorizer"]
    reply = json.loads(handler("broadcast")(event, FakeContext())["body"])
    assert reply["code"] == "FORBIDDEN"


def _offering(event, *values):
    for value in values:
        event["headers"]["Sec-WebSocket-Protocol"] = value
        event["multiValueHeaders"].setdefault("Sec-WebSocket-Protocol", []).append(value)
    return event


def test_connect_selects_the_wschat_subprotocol_and_never_echoes_the_token(aws):
    # GIVEN a browser that offered `wschat` and its token as subprotocols
    event = _offering(connect_event("c1=", "u_1"), "wschat, bearer.eyJhbGciOi.secret.sig")
    # WHEN $connect runs / THEN it selects exactly `wschat` (else the browser fails the handshake)
    assert handler("connect")(event, FakeContext()) == {"statusCode": 200,
                                                         "headers": {"Sec-WebSocket-Protocol": "wschat"}}
    assert Connection.get("c1=").userId == "u_1"


def test_connect_reads_subprotocols_sent_as_repeated_headers(aws):
    event = _offering(connect_event("c1=", "u_1"), "bearer.abc", "wschat")
    assert handler("connect")(event, FakeContext())["headers"] == {"Sec-WebSocket-Protocol": "wschat"}


def test_connect_without_offered_subprotocols_selects_none(aws):
    assert handler("connect")(connect_event("c1=", "u_1"), FakeContext()) == {"statusCode": 200}


def test_connect_offering_only_other_subprotocols_is_refused_without_writing(aws):
    event = _offering(connect_event("c1=", "u_1"), "graphql-ws, chat1")
    assert handler("connect")(event, FakeContext()) == {"statusCode": 400}
    assert list(Connection.scan()) == []
