import re

import pytest

from chat import responses
from chat.errors import BadRequest, ChatError, PayloadTooLarge, SenderNotAllowed, error_classes
from chat.protocol import (
    ERROR_CODES,
    parse_broadcast,
    parse_history_request,
    parse_room_request,
    parse_send_message,
)

from .conftest import ROOT


def readme_error_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| error code | meaning |"):].split("\n\n", 1)[0]
    return dict(re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|$", table, re.M))


def test_readme_error_table_is_exactly_the_client_error_codes_of_the_error_classes():
    assert readme_error_table() == ERROR_CODES


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_error_answers_with_the_status_and_code_its_class_defines(cls):
    # GIVEN one instance of each error class / WHEN a handler translates it into a response
    err = cls.__new__(cls)
    ChatError.__init__(err, "boom")
    response = responses.error(err, action="ping")
    # THEN the status comes from the class, and a client-facing code has a 4xx/5xx status
    assert response["statusCode"] == cls.status and 400 <= cls.status <= 599
    assert f'"code":"{cls.code}"' in response["body"]


def test_send_message_to_a_user():
    request = parse_send_message({"action": "sendMessage", "targetUserId": "u_456", "text": "hi"}, 100)
    assert (request.target_user_id, request.room_id, request.text) == ("u_456", None, "hi")


@pytest.mark.parametrize("body, error", [
    ({"text": "hi"}, "exactly one of"),
    ({"text": "hi", "targetUserId": "u_1", "roomId": "r"}, "exactly one of"),
    ({"targetUserId": "u_1"}, "'text' is required"),
    ({"targetUserId": "u_1", "text": 5}, "must be a string"),
    ({"targetUserId": "u_1", "text": "   "}, "must not be empty"),
    ({"targetUserId": "u 1", "text": "hi"}, "invalid format"),
    ({"roomId": "../etc", "text": "hi"}, "invalid format"),
    ({"targetUserId": "u_1", "text": "hi", "colour": "red"}, "unknown field"),
    ({"targetUserId": "u_1", "text": "hi", "clientMessageId": "x" * 65}, "invalid format"),
])
def test_send_message_rejects_bad_frames(body, error):
    with pytest.raises(BadRequest, match=error):
        parse_send_message({"action": "sendMessage", **body}, 100)


def test_text_over_the_limit_is_payload_too_large():
    with pytest.raises(PayloadTooLarge, match="limit is 10"):
        parse_send_message({"targetUserId": "u_1", "text": "x" * 11}, 10)


@pytest.mark.parametrize("field", ["from", "senderId", "userId", "sender", "connectionId"])
def test_payload_may_not_name_the_sender(field):
    with pytest.raises(SenderNotAllowed):
        parse_send_message({"targetUserId": "u_1", "text": "hi", field: "u_admin"}, 100)


def test_broadcast_room_is_optional():
    assert parse_broadcast({"text": "all"}, 100).room_id is None
    assert parse_broadcast({"text": "r", "roomId": "lobby"}, 100).room_id == "lobby"


def test_room_request_needs_a_valid_room():
    assert parse_room_request({"roomId": "lobby"}).room_id == "lobby"
    with pytest.raises(BadRequest):
        parse_room_request({})


@pytest.mark.parametrize("body", [
    {}, {"roomId": "r", "withUserId": "u"}, {"broadcast": "yes"}, {"roomId": "r", "limit": 0},
    {"roomId": "r", "limit": 101}, {"roomId": "r", "limit": True}, {"roomId": "r", "nextToken": "x" * 3000},
])
def test_history_request_rejects_bad_frames(body):
    with pytest.raises(BadRequest):
        parse_history_request(body)


def test_history_request_defaults():
    request = parse_history_request({"broadcast": True})
    assert (request.broadcast, request.limit, request.next_token) == (True, 50, None)
