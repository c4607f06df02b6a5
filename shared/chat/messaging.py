"""Sending: direct, room and broadcast messages. Persist first (history), then fan out.

The sender is always the authorizer identity of the calling connection (``Caller.user_id``),
never a payload field. With a ``clientMessageId`` the message and an idempotency item are
written in one transaction: a duplicate invocation (client retry, Lambda retry) finds the item,
answers with the original messageId and never stores the message twice. The item also records
whether the fan-out finished: a retry after a failed delivery (e.g. the client was told THROTTLED)
or after an invocation that died (its lease ran out) delivers the stored message again, so a retry
never loses it; a retry while the first delivery is still running, or after it finished, does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chat import fanout, observe, registry
from chat.config import Settings
from chat.errors import NotFound, Throttled
from chat.events import Caller
from chat.fanout import DeliveryReport, FanoutJob, RemainingMs, Segment
from chat.ids import new_ulid
from chat.logs import get_logger, log_event
from chat.management import endpoint_for
from chat.models import Message, MessageDedup, ensure_bound, transaction_connection
from chat.protocol import Broadcast, SendMessage, ack_frame

BROADCAST_CONVERSATION = "broadcast"
DELIVERY_LEASE_MS = 35_000  # > the 29 s integration timeout: a live first delivery is never doubled
log = get_logger("chat.messaging")


@dataclass(frozen=True)
class Outcome:
    message_id: str
    duplicate: bool
    delivery: DeliveryReport | None

    def ack(self, action: str, client_message_id: str | None) -> dict[str, Any]:
        """The sender's ack frame; ``delivery`` is absent when this call delivered nothing."""
        return ack_frame(action, message_id=self.message_id, client_message_id=client_message_id,
                         duplicate=self.duplicate, delivery=self.delivery.as_frame() if self.delivery else None)


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
        segments, conversation, kind = _room_audience(caller, request.room_id)
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
        segments, conversation, kind = _room_audience(caller, request.room_id)
    else:
        segments = [Segment("shard", n) for n in range(settings.broadcast_shards)]
        conversation, kind = BROADCAST_CONVERSATION, "broadcast"
    return _store_and_deliver(caller, sender, request.text, request.client_message_id, conversation, kind,
                              segments, remaining_ms, room_id=request.room_id, recipient_id=None)


def _room_audience(caller: Caller, room_id: str) -> tuple[list[Segment], str, str]:
    """A room's members, once the caller is one of them (NotMember otherwise)."""
    registry.require_member(room_id, caller.connection_id)
    return [Segment("room", room_id)], room_conversation(room_id), "room"


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
    job = FanoutJob(frame=frame, segments=segments, exclude=[caller.connection_id],
                    endpoint=endpoint_for(settings, caller.api_id, caller.stage))
    if client_message_id is None:
        message.save()
        observe.message(message.messageId)
        observe.sent(kind)
        return Outcome(message.messageId, duplicate=False, delivery=_fan_out(job, settings, remaining_ms))
    dedup = MessageDedup(f"dedup#{sender}", client_message_id,
                         originalConversationId=message.conversationId,
                         originalMessageId=message.messageId,
                         leaseUntil=sent_at + DELIVERY_LEASE_MS,
                         expiresAt=now + timedelta(seconds=settings.idempotency_ttl_seconds))
    if _save_once(message, dedup):
        observe.message(message.messageId)
        observe.sent(kind)
        return Outcome(message.messageId, duplicate=False, delivery=_deliver_once(dedup, job, remaining_ms))
    existing = MessageDedup.get(dedup.conversationId, dedup.messageId, consistent_read=True)
    observe.message(existing.originalMessageId)  # the repeat is the original message
    observe.duplicate()
    if not _claim_redelivery(existing, sent_at):
        return Outcome(existing.originalMessageId, duplicate=True, delivery=None)
    original = Message.get(existing.originalConversationId, existing.originalMessageId, consistent_read=True)
    job.frame = message_frame(original)
    return Outcome(original.messageId, duplicate=True, delivery=_deliver_once(existing, job, remaining_ms))


def _save_once(message: Message, dedup: MessageDedup) -> bool:
    """Stores message + idempotency item atomically; False when the item already existed."""
    try:
        with TransactWrite(connection=transaction_connection()) as txn:
            txn.save(dedup, condition=MessageDedup.conversationId.does_not_exist())
            txn.save(message)
    except TransactWriteError as e:
        codes = {r.code for r in e.cancellation_reasons if r is not None}
        if "ConditionalCheckFailed" in codes:
            return False
        if "TransactionConflict" in codes:  # the same clientMessageId is being stored right now
            raise Throttled("a request with this clientMessageId is in progress; retry it") from e
        raise
    return True


def _claim_redelivery(existing: MessageDedup, at_ms: int) -> bool:
    """Takes over delivery of a stored message whose first delivery failed or was abandoned."""
    if existing.status == "delivered" or (existing.status == "delivering" and existing.leaseUntil > at_ms):
        return False
    try:
        existing.update(
            actions=[MessageDedup.status.set("delivering"), MessageDedup.leaseUntil.set(at_ms + DELIVERY_LEASE_MS)],
            condition=(MessageDedup.status == existing.status) & (MessageDedup.leaseUntil == existing.leaseUntil),
        )
    except UpdateError as e:
        if e.cause_response_code == "ConditionalCheckFailedException":
            return False  # another invocation claimed it first
        raise
    return True


def _deliver_once(dedup: MessageDedup, job: FanoutJob, remaining_ms: RemainingMs | None) -> DeliveryReport:
    settings = ensure_bound()
    try:
        report = _fan_out(job, settings, remaining_ms)
    except Exception:
        _set_status(dedup, "failed")
        raise
    _set_status(dedup, "delivered")  # a hand-off counts: the continuation owns the rest
    return report


def _fan_out(job: FanoutJob, settings: Settings, remaining_ms: RemainingMs | None) -> DeliveryReport:
    scatter = settings.fanout_scatter and settings.fanout_function_name is not None
    report = fanout.run(job, settings, remaining_ms, scatter=scatter)
    if report.scattered:
        log_event(log, 20, "fan-out scattered", pages_handed_off=report.scattered, delivered_here=report.delivered)
    return report


def _set_status(dedup: MessageDedup, status: str) -> None:
    try:
        dedup.update(actions=[MessageDedup.status.set(status)])
    except PynamoDBException:  # the lease still bounds a retry's wait; never mask the real outcome
        log.exception("could not record delivery status", extra={"fields": {"status": status}})
