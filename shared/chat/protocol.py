"""The JSON wire protocol, defined once: client frames (validated here) and server frames (built
here). Error codes and their meanings live on the error classes (chat.errors); the actions a client
may send are the manifest's custom routes, which reach the functions as CLIENT_ACTIONS (chat.config).
README.md#protocol documents the same; tests check they agree.

Client frames are JSON objects with an ``action``. Unknown fields are refused (a typo must not
be silently ignored), and so is any attempt to name the sender: identity comes from the
authorizer context of the connection, never from the payload.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chat.errors import BadRequest, PayloadTooLarge, SenderNotAllowed, client_error_codes

MAX_FRAME_BYTES = 128 * 1024  # API Gateway's WebSocket message payload quota
ROOM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$")
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
NEXT_TOKEN_MAX = 2048
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 100
SENDER_FIELDS = frozenset({"from", "sender", "senderId", "userId", "fromUserId", "connectionId"})

# How a client hands its token to $connect (both are on by default; TOKEN_SOURCES narrows them):
# ``?token=<jwt>`` in the URL, or the ``Sec-WebSocket-Protocol`` header, which browsers set from
# ``new WebSocket(url, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + jwt])`` and which stays out of URLs,
# proxy logs and browser history. $connect selects SUBPROTOCOL (never echoes the token entry).
TOKEN_SOURCES = ("query", "subprotocol")
TOKEN_QUERY_PARAMETER = "token"
SUBPROTOCOL_HEADER = "Sec-WebSocket-Protocol"
SUBPROTOCOL = "wschat"
TOKEN_SUBPROTOCOL_PREFIX = "bearer."


def select_subprotocol(offered: list[str]) -> str | None:
    """The subprotocol $connect answers with: SUBPROTOCOL when offered, None when nothing was.

    A client that offers subprotocols gets exactly one back or its handshake fails (RFC 6455), and
    the token entry must never be echoed; offering only others is refused (400), as in AWS's
    "$connect route that requires a subprotocol" example.
    """
    if not offered:
        return None
    if SUBPROTOCOL not in offered:
        raise BadRequest(f"Sec-WebSocket-Protocol must offer {SUBPROTOCOL!r} (with {TOKEN_SUBPROTOCOL_PREFIX}<token>)")
    return SUBPROTOCOL


ERROR_CODES = client_error_codes()
"""Error codes a client can receive in {"type": "error", "code": ...} -> meaning (from chat.errors)."""


@dataclass(frozen=True)
class SendMessage:
    text: str
    target_user_id: str | None = None
    room_id: str | None = None
    client_message_id: str | None = None


@dataclass(frozen=True)
class Broadcast:
    text: str
    room_id: str | None = None
    client_message_id: str | None = None


@dataclass(frozen=True)
class RoomRequest:
    room_id: str


@dataclass(frozen=True)
class HistoryRequest:
    room_id: str | None = None
    with_user_id: str | None = None
    broadcast: bool = False
    limit: int = HISTORY_DEFAULT_LIMIT
    next_token: str | None = None


# ---- client frame validation -------------------------------------------------------------

def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    spoofed = sorted(SENDER_FIELDS & body.keys())
    if spoofed:
        raise SenderNotAllowed(
            f"field(s) {', '.join(spoofed)} not allowed: the sender is taken from your connection"
        )
    unknown = sorted(body.keys() - allowed - {"action"})
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])


def _string(body: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None,
            required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required", field=name)
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string", field=name)
    if pattern is not None and not pattern.match(value):
        raise BadRequest(f"'{name}' has an invalid format (allowed: {pattern.pattern})", field=name)
    return value


def _text(body: dict[str, Any], max_chars: int) -> str:
    text = _string(body, "text")
    assert text is not None
    if not text.strip():
        raise BadRequest("'text' must not be empty", field="text")
    if len(text) > max_chars:
        raise PayloadTooLarge(f"'text' is {len(text)} characters; the limit is {max_chars}", field="text")
    return text


def parse_send_message(body: dict[str, Any], max_chars: int) -> SendMessage:
    _check_fields(body, {"text", "targetUserId", "roomId", "clientMessageId"})
    target = _string(body, "targetUserId", USER_ID, required=False)
    room = _string(body, "roomId", ROOM_ID, required=False)
    if (target is None) == (room is None):
        raise BadRequest("give exactly one of 'targetUserId' or 'roomId'", field="targetUserId")
    return SendMessage(
        text=_text(body, max_chars),
        target_user_id=target,
        room_id=room,
        client_message_id=_string(body, "clientMessageId", CLIENT_MESSAGE_ID, required=False),
    )


def parse_broadcast(body: dict[str, Any], max_chars: int) -> Broadcast:
    _check_fields(body, {"text", "roomId", "clientMessageId"})
    return Broadcast(
        text=_text(body, max_chars),
        room_id=_string(body, "roomId", ROOM_ID, required=False),
        client_message_id=_string(body, "clientMessageId", CLIENT_MESSAGE_ID, required=False),
    )


def parse_room_request(body: dict[str, Any]) -> RoomRequest:
    _check_fields(body, {"roomId"})
    room = _string(body, "roomId", ROOM_ID)
    assert room is not None
    return RoomRequest(room_id=room)


def parse_history_request(body: dict[str, Any]) -> HistoryRequest:
    _check_fields(body, {"roomId", "withUserId", "broadcast", "limit", "nextToken"})
    room = _string(body, "roomId", ROOM_ID, required=False)
    peer = _string(body, "withUserId", USER_ID, required=False)
    broadcast = body.get("broadcast", False)
    if not isinstance(broadcast, bool):
        raise BadRequest("'broadcast' must be true or false", field="broadcast")
    if sum((room is not None, peer is not None, broadcast)) != 1:
        raise BadRequest("give exactly one of 'roomId', 'withUserId' or 'broadcast': true", field="roomId")
    limit = body.get("limit", HISTORY_DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise BadRequest(f"'limit' must be an integer from 1 to {HISTORY_MAX_LIMIT}", field="limit")
    token = _string(body, "nextToken", required=False)
    if token is not None and len(token) > NEXT_TOKEN_MAX:
        raise BadRequest("'nextToken' is too long", field="nextToken")
    return HistoryRequest(room_id=room, with_user_id=peer, broadcast=broadcast, limit=limit, next_token=token)


def parse_ping(body: dict[str, Any]) -> None:
    _check_fields(body, set())


# ---- server frames ---------------------------------------------------------------------------

def error_frame(code: str, message: str, *, action: str | None = None, field: str | None = None,
                valid_actions: Sequence[str] | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if action:
        frame["action"] = action
    if field:
        frame["field"] = field
    if valid_actions is not None:
        frame["validActions"] = list(valid_actions)
    return frame


def ack_frame(action: str, *, message_id: str | None = None, client_message_id: str | None = None,
              duplicate: bool = False, delivery: dict[str, Any] | None = None,
              retry_after_ms: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "ack", "action": action, "duplicate": duplicate}
    if retry_after_ms is not None:
        frame["retryAfterMs"] = retry_after_ms
    if message_id:
        frame["messageId"] = message_id
    if client_message_id:
        frame["clientMessageId"] = client_message_id
    if delivery is not None:
        frame["delivery"] = delivery
    return frame
