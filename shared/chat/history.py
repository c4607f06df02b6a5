"""History: pages of a conversation, newest first, readable only by its participants
(room members, the two users of a direct conversation; broadcasts by anyone)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from chat import registry
from chat.errors import BadRequest
from chat.events import Caller
from chat.messaging import BROADCAST_CONVERSATION, direct_conversation, message_frame, room_conversation
from chat.models import Message, ensure_bound
from chat.protocol import HistoryRequest


@dataclass(frozen=True)
class HistoryPage:
    conversation_id: str
    messages: list[dict[str, Any]]
    next_token: str | None

    def as_frame(self) -> dict[str, Any]:
        return {"type": "history", "conversationId": self.conversation_id, "messages": self.messages,
                "nextToken": self.next_token}


def fetch(caller: Caller, request: HistoryRequest) -> HistoryPage:
    ensure_bound()
    user = caller.require_user()
    if request.room_id is not None:
        registry.require_member(request.room_id, caller.connection_id)
        conversation = room_conversation(request.room_id)
    elif request.with_user_id is not None:
        conversation = direct_conversation(user, request.with_user_id)
    else:
        conversation = BROADCAST_CONVERSATION
    start = _decode_token(request.next_token, conversation) if request.next_token else None
    results = Message.query(conversation, scan_index_forward=False, limit=request.limit,
                            page_size=request.limit, last_evaluated_key=start)
    messages = [message_frame(m) for m in results]
    last = results.last_evaluated_key
    return HistoryPage(conversation, messages, _encode_token(last) if last and messages else None)


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, conversation: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        valid = (isinstance(key, dict) and set(key) == {"conversationId", "messageId"}
                 and key["conversationId"] == {"S": conversation}
                 and isinstance(key["messageId"], dict) and isinstance(key["messageId"].get("S"), str))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequest("'nextToken' is not a token this conversation issued", field="nextToken")
    return key
