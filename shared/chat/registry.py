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
VALIDATION_FAILED = "ValidationException"
STALE_RATE_KEYS = 4  # rate-limit minutes long past that a row may carry before they are pruned
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
        rate={},
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


def require_joined(connection: Connection, room_id: str) -> None:
    """NotMember unless ``connection`` (a row just read or updated, strongly consistent) lists the
    room and is live: the row's room set changes in the same transaction as the membership item
    (join, leave, register) and both carry the same expiry, so it answers as ``is_member`` would."""
    if room_id not in (connection.rooms or ()) or not _is_live(connection.expiresAt):
        raise NotMember(f"join room {room_id} first (action joinRoom)")


def _condition_failed(error: TransactWriteError) -> bool:
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in error.cancellation_reasons)


# ---- per-connection rate limit and activity ----------------------------------------------------

def consume_send_quota(connection_id: str, at_ms: int | None = None) -> Connection:
    """Counts one message against the connection's per-minute budget and records lastActiveAt, in
    one conditional UpdateItem whatever the window: the count lives under the minute's own key of the
    row's ``rate`` map (the two previous minutes' keys are removed in the same update). Returns the
    connection's row as the update left it (UpdateItem answers with it at no extra cost): its rooms
    and expiry are what a room message checks membership against, without another read.

    Raises RateLimited when the budget is spent, ConnectionNotRegistered when the row is gone.
    """
    settings = ensure_bound()
    limit = settings.rate_limit_per_minute
    at_ms = at_ms or now_ms()
    if not limit:  # RATE_LIMIT_PER_MINUTE=0: no per-connection limit, only the activity record
        return touch(connection_id, at_ms)
    window = at_ms // 60_000
    count = Connection.rate[_window_key(window)]
    actions = [count.set((count | 0) + 1), Connection.lastActiveAt.set(at_ms),
               Connection.rate[_window_key(window - 1)].remove(), Connection.rate[_window_key(window - 2)].remove()]
    condition = Connection.connectionId.exists() & (count.does_not_exist() | (count < limit))
    row = Connection(connection_id)
    for attempt in range(2):
        try:
            row.update(actions=actions, condition=condition)
            break
        except UpdateError as e:
            if e.cause_response_code == VALIDATION_FAILED and attempt == 0:  # a row without the map yet
                _add_rate_map(connection_id)
                continue
            if e.cause_response_code != CONDITION_FAILED:
                raise
            if get(connection_id) is None:
                raise ConnectionNotRegistered(
                    f"connection {connection_id} is not registered (expired or disconnected)") from e
            raise RateLimited(f"at most {limit} messages per minute per connection; try again in "
                              f"{60 - (at_ms // 1000) % 60} s") from e
    _prune_rate(row, window)
    return row


def _window_key(window: int) -> str:
    return f"w{window}"


def _add_rate_map(connection_id: str) -> None:
    """Gives a row written before the ``rate`` map existed its empty map (then the count can go in)."""
    try:
        Connection(connection_id).update(actions=[Connection.rate.set({})],
                                         condition=Connection.connectionId.exists() & Connection.rate.does_not_exist())
    except UpdateError as e:
        if e.cause_response_code != CONDITION_FAILED:  # gone, or another message added it first
            raise


def _prune_rate(row: Connection, window: int) -> None:
    """Removes counts of minutes long past once a few have piled up (each update removes only the two
    minutes before its own, so a sender who pauses leaves one key behind per pause): the row stays
    small, at the price of one more UpdateItem after every STALE_RATE_KEYS pauses."""
    keep = {_window_key(window - n) for n in range(3)}
    stale = [key for key in (row.rate.as_dict() if row.rate is not None else {}) if key not in keep]
    if len(stale) < STALE_RATE_KEYS:
        return
    try:
        Connection(row.connectionId).update(actions=[Connection.rate[key].remove() for key in stale],
                                            condition=Connection.connectionId.exists())
    except PynamoDBException:  # the next pause tries again; the limit itself is unaffected
        log.exception("could not prune rate-limit windows", extra={"fields": {"stale": len(stale)}})


def touch(connection_id: str, at_ms: int | None = None) -> Connection:
    """Records activity (ping); fails with ConnectionNotRegistered if the row is gone. Returns the
    row as the update left it."""
    ensure_bound()
    row = Connection(connection_id)
    try:
        row.update(actions=[Connection.lastActiveAt.set(at_ms or now_ms())],
                   condition=Connection.connectionId.exists())
    except UpdateError as e:
        if e.cause_response_code == CONDITION_FAILED:
            raise ConnectionNotRegistered(f"connection {connection_id} is not registered") from e
        raise
    return row


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
