"""PynamoDB models: the single source of truth of the data (terraform/modules/dynamodb mirrors
them and tests/terraform checks that it does).

Tables
------
connections   hash connectionId. One row per live WebSocket connection: who (userId), which
              rooms, when, from where, and ``expiresAt`` (TTL) because $disconnect is best effort.
              GSI byUser  (userId, connectionId): every connection of a user (direct messages).
              GSI byShard (shard, connectionId):  broadcast-to-everyone as N Queries, never a Scan.
room_members  hash roomId, range connectionId. Membership items: a room's audience is one Query
              on its partition (items read == recipients), and a connection may join many rooms.
messages      hash conversationId ("room#<id>", "dm#<a>#<b>", "broadcast"), range messageId (a
              ULID: time-ordered and unique). Also holds idempotency items under "dedup#<userId>"
              and fan-out continuation checkpoints under "fanout#<jobId>".
"""

from __future__ import annotations

import threading

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection as DynamoConnection
from pynamodb.connection import TableConnection
from pynamodb.exceptions import TableError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chat.clients import on_reset
from chat.config import Settings, get_settings

UNBOUND = "unbound-call-chat.models.bind"


class ConnectionsByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "byUser"
        projection = IncludeProjection(["expiresAt"])

    userId = UnicodeAttribute(hash_key=True)
    connectionId = UnicodeAttribute(range_key=True)


class ConnectionsByShard(GlobalSecondaryIndex):
    class Meta:
        index_name = "byShard"
        projection = IncludeProjection(["expiresAt", "userId"])

    shard = NumberAttribute(hash_key=True)
    connectionId = UnicodeAttribute(range_key=True)


class _ChatModel(Model):
    """Every model's table connection goes through the binding's one low-level connection (one
    thread-safe botocore client, same settings as the models' Meta: region, timeouts, retries, pool
    size). PynamoDB has no setting for a shared connection or client (pynamodb/PynamoDB#876, #1245:
    one client per model, ~10 MB each), so this overrides its connection hook and sets only the
    public ``TableConnection.connection`` attribute; a new binding gets a new shared connection, which
    the next call swaps in (no cached private state to reset)."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        shared = _shared_connection()
        if table.connection is not shared:
            with _bind_lock:
                try:
                    shared.get_meta_table(table.table_name)
                except TableError:  # the first model of this table (models may share a table)
                    shared.add_meta_table(table.get_meta_table())
                table.connection = shared
        return table


class Connection(_ChatModel):
    class Meta:
        table_name = UNBOUND

    connectionId = UnicodeAttribute(hash_key=True)
    userId = UnicodeAttribute()
    shard = NumberAttribute()
    connectedAt = NumberAttribute()  # epoch milliseconds, as requestContext.connectedAt
    lastActiveAt = NumberAttribute(null=True)  # epoch milliseconds
    rooms = UnicodeSetAttribute(null=True)
    sourceIp = UnicodeAttribute(null=True)
    userAgent = UnicodeAttribute(null=True)
    # Messages sent per minute, {"w<epoch minute>": count}: the rate limit's fixed windows, counted with
    # one conditional UpdateItem whatever the window (chat.registry.consume_send_quota).
    rate = MapAttribute(null=True)
    expiresAt = TTLAttribute()

    by_user = ConnectionsByUser()
    by_shard = ConnectionsByShard()


class RoomMember(_ChatModel):
    class Meta:
        table_name = UNBOUND

    roomId = UnicodeAttribute(hash_key=True)
    connectionId = UnicodeAttribute(range_key=True)
    userId = UnicodeAttribute()
    joinedAt = NumberAttribute()  # epoch milliseconds
    expiresAt = TTLAttribute()


class Message(_ChatModel):
    class Meta:
        table_name = UNBOUND

    conversationId = UnicodeAttribute(hash_key=True)
    messageId = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # direct | room | broadcast
    senderId = UnicodeAttribute()
    text = UnicodeAttribute()
    sentAt = NumberAttribute()  # epoch milliseconds
    roomId = UnicodeAttribute(null=True)
    recipientId = UnicodeAttribute(null=True)
    clientMessageId = UnicodeAttribute(null=True)
    expiresAt = TTLAttribute(null=True)


class MessageDedup(_ChatModel):
    """Idempotency item: ``(dedup#<senderId>, <clientMessageId>)`` -> the message it created.

    Lives in the messages table (same key names, its own partitions) and is written in the same
    transaction as the message, so a duplicate invocation can neither store nor deliver twice.
    """

    class Meta:
        table_name = UNBOUND

    conversationId = UnicodeAttribute(hash_key=True)
    messageId = UnicodeAttribute(range_key=True)
    originalConversationId = UnicodeAttribute()
    originalMessageId = UnicodeAttribute()
    # Delivery state, so a retry after a failed/abandoned fan-out delivers instead of going silent:
    # "delivering" (leased until leaseUntil, epoch ms) -> "delivered", or "failed" on a caught error.
    status = UnicodeAttribute(default="delivering")
    leaseUntil = NumberAttribute(default=0)
    expiresAt = TTLAttribute()


class FanoutCheckpoint(_ChatModel):
    """Progress of one asynchronous fan-out continuation (``fanout#<jobId>``), so an invocation
    that Lambda retries after a crash resumes where the last finished chunk left off."""

    class Meta:
        table_name = UNBOUND

    conversationId = UnicodeAttribute(hash_key=True)
    messageId = UnicodeAttribute(range_key=True)
    state = UnicodeAttribute()  # JSON: the FanoutJob still to do, or {"done": true}, or the hand-off
    expiresAt = TTLAttribute()


TABLE_MODELS = {"connections": Connection, "room_members": RoomMember, "messages": Message}
"""Logical table name (as in manifest.json permissions) -> the model that defines its schema."""

_ALL_MODELS = (Connection, RoomMember, Message, MessageDedup, FanoutCheckpoint)
_bind_lock = threading.Lock()
_bound_to: Settings | None = None
_txn_connection: DynamoConnection | None = None


def bind(settings: Settings) -> None:
    """Point every model at the configured tables/region. Idempotent; cheap when unchanged."""
    global _bound_to, _txn_connection
    with _bind_lock:
        if _bound_to == settings:
            return
        names = {
            Connection: settings.connections_table,
            RoomMember: settings.room_members_table,
            Message: settings.messages_table,
            MessageDedup: settings.messages_table,
            FanoutCheckpoint: settings.messages_table,
        }
        for model in _ALL_MODELS:
            meta = model.Meta
            meta.table_name = names[model]
            meta.region = settings.require_region()
            meta.connect_timeout_seconds = 2
            meta.read_timeout_seconds = 5
            meta.max_retry_attempts = 4
            meta.max_pool_connections = max(10, settings.fanout_concurrency)
        _bound_to = settings
        _txn_connection = None


def ensure_bound() -> Settings:
    settings = get_settings()
    bind(settings)
    return settings


def transaction_connection() -> DynamoConnection:
    """The binding's one low-level PynamoDB connection: TransactWrite uses it, and every model
    shares its botocore client (see ``_ChatModel``)."""
    ensure_bound()
    return _shared_connection()


def _shared_connection() -> DynamoConnection:
    """Built once per binding, client included, under the lock: PynamoDB builds a client lazily per
    connection without a lock, so threads racing to their first call each made their own (a botocore
    session and client is about 10 MB; 32 handler threads left a function worker 350 MB bigger)."""
    global _txn_connection
    connection = _txn_connection
    if connection is not None:
        return connection
    with _bind_lock:
        if _txn_connection is None:
            settings = _bound_to or get_settings()
            connection = DynamoConnection(region=settings.require_region(), connect_timeout_seconds=2,
                                          read_timeout_seconds=5, max_retry_attempts=4,
                                          max_pool_connections=max(10, settings.fanout_concurrency))
            connection.client  # noqa: B018 - builds the client now, once
            _txn_connection = connection
        return _txn_connection


def reset_binding() -> None:
    """Forget the binding (``chat.clients.reset()`` calls this after the environment changed)."""
    global _bound_to, _txn_connection
    with _bind_lock:
        _bound_to = None
        _txn_connection = None


on_reset(reset_binding)
