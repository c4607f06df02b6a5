"""Connection registry: who is connected, as which user, in which rooms, until when.

Rows carry ``expiresAt`` (DynamoDB TTL) because $disconnect is best effort and TTL deletes lazily
(up to ~48 h late), so every read here ignores expired rows. Audience reads are paginated
Queries on a key or index (never a Scan), yielding one page of connection ids at a time.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from chat.errors import ConnectionNotRegistered, NotMember, RateLimited, TooManyRooms
from chat.events import Caller
from chat.logs import get_logger, log_event
from chat.models import Connection, RoomMember, ensure_bound, transaction_connection

log = get_logger("chat.registry")
CONDITION_FAILED = "ConditionalCheckFailedException"
Cursor = dict[str, Any] | None


@dataclass(frozen=True)
class Page:
    """One Query page of an audience: the live connection ids, and where the next page starts."""

    connection_ids: list[str]
    cursor: Cursor
    items_read: int


def now_ms() -> int:
    return int(time.time() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _is_live(expires_at: datetime | None, at: datetime | None = None) -> bool:
    return expires_at is None or expires_at > (at or datetime.now(timezone.utc))


def shard_of(connection_id: str, shards: int) -> int:
    return zlib.crc32(connection_id.encode()) % shards


# ---- lifecycle ---------------------------------------------------------------------------------

def register(caller: Caller, room_id: str | None = None) -> Connection:
    """$connect: one connection row (+ one membership row when a room is given), atomically."""
    settings = ensure_bound()
    user_id = caller.require_user()
    connected_at = caller.connected_at or now_ms()
    expires = _utc(connected_at) + timedelta(seconds=settings.connection_ttl_seconds)
    connection = Connection(
        caller.connection_id,
        userId=user_id,
        shard=shard_of(caller.connection_id, settings.broadcast_shards),
        connectedAt=connected_at,
        lastActiveAt=connected_at,
        rooms={room_id} if room_id else None,
        sourceIp=caller.source_ip,
        userAgent=(caller.user_agent or "")[:512] or None,
        expiresAt=expires,
    )
    if room_id is None:
        connection.save()
        return connection
    with TransactWrite(connection=transaction_connection()) as txn:
        txn.save(connection)
        txn.save(RoomMember(room_id, caller.connection_id, userId=user_id, joinedAt=connected_at,
                            expiresAt=expires))
    return connection


def unregister(connection_id: str) -> bool:
    """Removes a connection and its memberships. Idempotent: False when it was already gone.

    Memberships go first, so a failure half-way leaves the connection row (with its room list)
    for the next attempt or the TTL, never an orphaned membership without its index.
    """
    ensure_bound()
    try:
        connection = Connection.get(connection_id, consistent_read=True)
    except Connection.DoesNotExist:
        return False
    for room in sorted(connection.rooms or ()):
        RoomMember(room, connection_id).delete()
    connection.delete()
    return True


def get(connection_id: str) -> Connection | None:
    ensure_bound()
    try:
        connection = Connection.get(connection_id, consistent_read=True)
    except Connection.DoesNotExist:
        return None
    return connection if _is_live(connection.expiresAt) else None


def require(connection_id: str) -> Connection:
    connection = get(connection_id)
    if connection is None:
        raise ConnectionNotRegistered(f"connection {connection_id} is not registered (expired or disconnected)")
    return connection


# ---- rooms -------------------------------------------------------------------------------------

def join(caller: Caller, room_id: str) -> bool:
    """Adds the caller's connection to a room. Returns False when it was already a member."""
    settings = ensure_bound()
    connection = require(caller.connection_id)
    rooms = connection.rooms or set()
    if room_id in rooms:
        return False
    limit = settings.max_rooms_per_connection
    if len(rooms) >= limit:
        raise TooManyRooms(f"a connection may join at most {limit} rooms", field="roomId")
    condition = Connection.connectionId.exists() & (
        Connection.rooms.does_not_exist() | (size(Connection.rooms) < limit)
    )
    try:
        with TransactWrite(connection=transaction_connection()) as txn:
            txn.update(Connection(caller.connection_id), actions=[Connection.rooms.add({room_id})],
                       condition=condition)
            txn.save(RoomMember(room_id, caller.connection_id, userId=connection.userId, joinedAt=now_ms(),
                                expiresAt=connection.expiresAt))
    except TransactWriteError as e:
        if not _condition_failed(e):
            raise
        if get(caller.connection_id) is None:  # the row vanished since we read it ($disconnect, TTL)
            raise ConnectionNotRegistered(f"connection {caller.connection_id} is not registered") from e
        raise TooManyRooms(f"a connection may join at most {limit} rooms", field="roomId") from e
    return True


def leave(caller: Caller, room_id: str) -> None:
    ensure_bound()
    try:
        with TransactWrite(connection=transaction_connection()) as txn:
            txn.delete(RoomMember(room_id, caller.connection_id), condition=RoomMember.roomId.exists())
            txn.update(Connection(caller.connection_id), actions=[Connection.rooms.delete({room_id})],
                       condition=Connection.connectionId.exists())
    except TransactWriteError as e:
        if _condition_failed(e):
            raise NotMember(f"this connection has not joined room {room_id}") from e
        raise


def is_member(room_id: str, connection_id: str) -> bool:
    ensure_bound()
    try:
        member = RoomMember.get(room_id, connection_id, consistent_read=True)
    except RoomMember.DoesNotExist:
        return False
    return _is_live(member.expiresAt)


def require_member(room_id: str, connection_id: str) -> None:
    if not is_member(room_id, connection_id):
        raise NotMember(f"join room {room_id} first (action joinRoom)")


def _condition_failed(error: TransactWriteError) -> bool:
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in error.cancellation_reasons)


# ---- per-connection rate limit and activity ----------------------------------------------------

def consume_send_quota(connection_id: str, at_ms: int | None = None) -> None:
    """Counts one message against the connection's per-minute budget (fixed window, one
    conditional UpdateItem in the common case); also records lastActiveAt.

    Raises RateLimited when the budget is spent, ConnectionNotRegistered when the row is gone.
    """
    settings = ensure_bound()
    limit = settings.rate_limit_per_minute
    at_ms = at_ms or now_ms()
    if not limit:  # RATE_LIMIT_PER_MINUTE=0: no per-connection limit, only the activity record
        touch(connection_id, at_ms)
        return
    window = at_ms // 60_000
    row = Connection(connection_id)
    try:
        row.update(actions=[Connection.rateCount.add(1), Connection.lastActiveAt.set(at_ms)],
                   condition=(Connection.rateWindow == window) & (Connection.rateCount < limit))
        return
    except UpdateError as e:
        if e.cause_response_code != CONDITION_FAILED:
            raise
    try:
        row.update(
            actions=[Connection.rateWindow.set(window), Connection.rateCount.set(1),
                     Connection.lastActiveAt.set(at_ms)],
            condition=Connection.connectionId.exists()
            & (Connection.rateWindow.does_not_exist() | (Connection.rateWindow != window)),
        )
        return
    except UpdateError as e:
        if e.cause_response_code != CONDITION_FAILED:
            raise
    if get(connection_id) is None:
        raise ConnectionNotRegistered(f"connection {connection_id} is not registered (expired or disconnected)")
    raise RateLimited(f"at most {limit} messages per minute per connection; try again in "
                      f"{60 - (at_ms // 1000) % 60} s")


def touch(connection_id: str, at_ms: int | None = None) -> None:
    """Records activity (ping); fails with ConnectionNotRegistered if the row is gone."""
    ensure_bound()
    try:
        Connection(connection_id).update(actions=[Connection.lastActiveAt.set(at_ms or now_ms())],
                                         condition=Connection.connectionId.exists())
    except UpdateError as e:
        if e.cause_response_code == CONDITION_FAILED:
            raise ConnectionNotRegistered(f"connection {connection_id} is not registered") from e
        raise


# ---- audiences (paginated Queries) -------------------------------------------------------------

def user_page(user_id: str, cursor: Cursor, page_size: int) -> Page:
    ensure_bound()
    return _page(Connection.by_user.query(user_id, limit=page_size, page_size=page_size,
                                          last_evaluated_key=cursor))


def room_page(room_id: str, cursor: Cursor, page_size: int) -> Page:
    ensure_bound()
    return _page(RoomMember.query(room_id, limit=page_size, page_size=page_size, last_evaluated_key=cursor))


def shard_page(shard: int, cursor: Cursor, page_size: int) -> Page:
    ensure_bound()
    return _page(Connection.by_shard.query(shard, limit=page_size, page_size=page_size,
                                           last_evaluated_key=cursor))


def _page(results: Any) -> Page:
    at = datetime.now(timezone.utc)
    ids: list[str] = []
    read = 0
    for item in results:
        read += 1
        if _is_live(item.expiresAt, at):
            ids.append(item.connectionId)
    return Page(connection_ids=ids, cursor=results.last_evaluated_key, items_read=read)


def forget_gone(connection_id: str) -> None:
    """A 410 GoneException for *this* id: drop it (never the caller's own id by mistake)."""
    try:
        removed = unregister(connection_id)
    except PynamoDBException:
        log.exception("could not remove gone connection", extra={"fields": {"gone_connection_id": connection_id}})
        return
    log_event(log, 20, "removed gone connection", gone_connection_id=connection_id, removed=removed)
