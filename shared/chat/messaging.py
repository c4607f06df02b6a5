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

from dataclasses import dataclass, field
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
from chat.models import Connection, Message, MessageDedup, ensure_bound, transaction_connection
from chat.protocol import Broadcast, SendMessage, ack_frame

BROADCAST_CONVERSATION = "broadcast"
DELIVERY_LEASE_MS = 35_000  # > the 29 s integration timeout: a live first delivery is never doubled
log = get_logger("chat.messaging")


@dataclass(frozen=True)
class Outcome:
    message_id: str
    duplicate: bool
    delivery: DeliveryReport | None
    retry_after_ms: int | None = None  # a repeat met another invocation's unfinished delivery (its lease)

    def ack(self, action: str, client_message_id: str | None) -> dict[str, Any]:
        """The sender's ack frame; ``delivery`` is absent when this call delivered nothing."""
        return ack_frame(action, message_id=self.message_id, client_message_id=client_message_id,
                         duplicate=self.duplicate, delivery=self.delivery.as_frame() if self.delivery else None,
                         retry_after_ms=self.retry_after_ms)


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


@dataclass
class Audience:
    """Who gets a message: Query segments, plus connection ids already read (the first page of a
    direct message's target, read to check that the user is online) and where that read stopped."""

    segments: list[Segment]
    pending: list[str] = field(default_factory=list)
    cursor: registry.Cursor = None  # Query position inside segments[0]


def send_message(caller: Caller, request: SendMessage, remaining_ms: RemainingMs | None = None) -> Outcome:
    sender = caller.require_user()
    row = registry.consume_send_quota(caller.connection_id)
    if request.room_id is not None:
        audience, conversation, kind = _room_audience(row, request.room_id)
    else:
        target = request.target_user_id
        assert target is not None
        audience = _online_audience(target, sender, caller.connection_id)
        conversation, kind = direct_conversation(sender, target), "direct"
    return _store_and_deliver(caller, sender, request.text, request.client_message_id, conversation, kind,
                              audience, remaining_ms, room_id=request.room_id,
                              recipient_id=request.target_user_id)


def broadcast(caller: Caller, request: Broadcast, remaining_ms: RemainingMs | None = None) -> Outcome:
    sender = caller.require_user()
    settings = ensure_bound()
    row = registry.consume_send_quota(caller.connection_id)
    if request.room_id is not None:
        audience, conversation, kind = _room_audience(row, request.room_id)
    else:
        audience = Audience([Segment("shard", n) for n in range(settings.broadcast_shards)])
        conversation, kind = BROADCAST_CONVERSATION, "broadcast"
    return _store_and_deliver(caller, sender, request.text, request.client_message_id, conversation, kind,
                              audience, remaining_ms, room_id=request.room_id, recipient_id=None)


def _room_audience(row: Connection, room_id: str) -> tuple[Audience, str, str]:
    """A room's members, once the caller is one of them (NotMember otherwise): the caller's row, as
    the rate-limit update returned it, says which rooms it joined (no read of its own)."""
    registry.require_joined(row, room_id)
    return Audience([Segment("room", room_id)]), room_conversation(room_id), "room"


def _online_audience(target: str, sender: str, caller_connection: str) -> Audience:
    """The target's connections (NotFound when none is live), then the sender's other devices. The
    pages read to find the target online are the fan-out's first: nobody's connections are read twice."""
    settings = ensure_bound()
    cursor = None
    while True:
        page = registry.user_page(target, cursor, settings.fanout_page_size)
        if page.connection_ids or page.cursor is None:
            break
        cursor = page.cursor
    if not page.connection_ids:
        raise NotFound(f"user {target} has no live connection")
    rest = [Segment("user", target)] if page.cursor is not None else []
    if sender != target:
        rest.append(Segment("user", sender))
    return Audience(rest, pending=[c for c in page.connection_ids if c != caller_connection], cursor=page.cursor)


def _store_and_deliver(caller: Caller, sender: str, text: str, client_message_id: str | None,
                       conversation: str, kind: str, audience: Audience,
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
    job = FanoutJob(frame=frame, segments=audience.segments, exclude=[caller.connection_id],
                    endpoint=endpoint_for(settings, caller.api_id, caller.stage),
                    pending=audience.pending, cursor=audience.cursor)
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
        # Delivered: nothing to do. Still delivering: that invocation may have died (its lease tells
        # when a repeat may take the delivery over), so the sender learns when to resend to be sure.
        return Outcome(existing.originalMessageId, duplicate=True, delivery=None,
                       retry_after_ms=existing.leaseUntil - sent_at if _lease_held(existing, sent_at) else None)
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


def _lease_held(existing: MessageDedup, at_ms: int) -> bool:
    """Another invocation is still delivering the stored message (it may also have died: see the lease)."""
    return existing.status == "delivering" and existing.leaseUntil > at_ms


def _claim_redelivery(existing: MessageDedup, at_ms: int) -> bool:
    """Takes over delivery of a stored message whose first delivery failed or was abandoned."""
    if existing.status == "delivered" or _lease_held(existing, at_ms):
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
