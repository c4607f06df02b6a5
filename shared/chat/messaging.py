"""Sending: direct, room and broadcast messages. Persist first (history), then fan out.

The sender is always the authorizer identity of the calling connection (``Caller.user_id``),
never a payload field. With a ``clientMessageId`` the message and an idempotency item are
written in one transaction: a duplicate invocation (client retry, Lambda retry) finds the item,
answers with the original messageId and neither stores nor delivers the message again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chat import fanout, registry
from chat.errors import NotFound
from chat.events import Caller
from chat.fanout import DeliveryReport, FanoutJob, RemainingMs, Segment
from chat.ids import new_ulid
from chat.management import endpoint_for
from chat.models import Message, MessageDedup, ensure_bound, transaction_connection
from chat.protocol import Broadcast, SendMessage

BROADCAST_CONVERSATION = "broadcast"


@dataclass(frozen=True)
class Outcome:
    message_id: str
    duplicate: bool
    delivery: DeliveryReport | None


def room_conversation(room_id: str) -> str:
    return f"room#{room_id}"


def direct_conversation(user_a: str, user_b: str) -> str:
    low, high = sorted((user_a, user_b))
    return f"dm#{low}#{high}"


def message_frame(message: Message) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "message",
        "messageId": message.messageId,
        "conversationId": message.conversationId,
        "kind": message.kind,
        "from": message.senderId,
        "text": message.text,
        "sentAt": message.sentAt,
    }
    if message.recipientId:
        frame["to"] = message.recipientId
    if message.roomId:
        frame["roomId"] = message.roomId
    if message.clientMessageId:
        frame["clientMessageId"] = message.clientMessageId
    return frame


def send_message(caller: Caller, request: SendMessage, remaining_ms: RemainingMs | None = None) -> Outcome:
    sender = caller.require_user()
    registry.consume_send_quota(caller.connection_id)
    if request.room_id is not None:
        registry.require_member(request.room_id, caller.connection_id)
        segments = [Segment("room", request.room_id)]
        conversation, kind = room_conversation(request.room_id), "room"
    else:
        target = request.target_user_id
        assert target is not None
        _require_online(target)
        segments = [Segment("user", target)] + ([Segment("user", sender)] if sender != target else [])
        conversation, kind = direct_conversation(sender, target), "direct"
    return _store_and_deliver(caller, sender, request.text, request.client_message_id, conversation, kind,
                              segments, remaining_ms, room_id=request.room_id,
                              recipient_id=request.target_user_id)


def broadcast(caller: Caller, request: Broadcast, remaining_ms: RemainingMs | None = None) -> Outcome:
    sender = caller.require_user()
    settings = ensure_bound()
    registry.consume_send_quota(caller.connection_id)
    if request.room_id is not None:
        registry.require_member(request.room_id, caller.connection_id)
        segments = [Segment("room", request.room_id)]
        conversation, kind = room_conversation(request.room_id), "room"
    else:
        segments = [Segment("shard", n) for n in range(settings.broadcast_shards)]
        conversation, kind = BROADCAST_CONVERSATION, "broadcast"
    return _store_and_deliver(caller, sender, request.text, request.client_message_id, conversation, kind,
                              segments, remaining_ms, room_id=request.room_id, recipient_id=None)


def _require_online(user_id: str) -> None:
    settings = ensure_bound()
    cursor = None
    while True:
        page = registry.user_page(user_id, cursor, settings.fanout_page_size)
        if page.connection_ids:
            return
        if page.cursor is None:
            raise NotFound(f"user {user_id} has no live connection")
        cursor = page.cursor


def _store_and_deliver(caller: Caller, sender: str, text: str, client_message_id: str | None,
                       conversation: str, kind: str, segments: list[Segment],
                       remaining_ms: RemainingMs | None, *, room_id: str | None,
                       recipient_id: str | None) -> Outcome:
    settings = ensure_bound()
    now = datetime.now(timezone.utc)
    sent_at = int(now.timestamp() * 1000)
    message = Message(
        conversation,
        new_ulid(sent_at),
        kind=kind,
        senderId=sender,
        text=text,
        sentAt=sent_at,
        roomId=room_id,
        recipientId=recipient_id,
        clientMessageId=client_message_id,
        expiresAt=(now + timedelta(days=settings.message_retention_days))
        if settings.message_retention_days else None,
    )
    frame = message_frame(message)
    fanout.encode(frame)  # refuse an oversized frame before anything is written
    if client_message_id is None:
        message.save()
    else:
        original = _save_once(message, sender, client_message_id, now, settings.idempotency_ttl_seconds)
        if original is not None:
            return Outcome(message_id=original, duplicate=True, delivery=None)
    job = FanoutJob(frame=frame, segments=segments, exclude=[caller.connection_id],
                    endpoint=endpoint_for(settings, caller.api_id, caller.stage))
    return Outcome(message_id=message.messageId, duplicate=False,
                   delivery=fanout.run(job, settings, remaining_ms))


def _save_once(message: Message, sender: str, client_message_id: str, now: datetime, ttl_seconds: int) -> str | None:
    """Stores message + idempotency item atomically; returns the original id on a duplicate."""
    dedup = MessageDedup(f"dedup#{sender}", client_message_id,
                         originalConversationId=message.conversationId,
                         originalMessageId=message.messageId,
                         expiresAt=now + timedelta(seconds=ttl_seconds))
    try:
        with TransactWrite(connection=transaction_connection()) as txn:
            txn.save(dedup, condition=MessageDedup.conversationId.does_not_exist())
            txn.save(message)
    except TransactWriteError as e:
        if not any(r is not None and r.code == "ConditionalCheckFailed" for r in e.cancellation_reasons):
            raise
        existing = MessageDedup.get(f"dedup#{sender}", client_message_id, consistent_read=True)
        return existing.originalMessageId
    return None
