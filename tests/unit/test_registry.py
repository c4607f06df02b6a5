from datetime import datetime, timedelta, timezone

import pytest

from chat import registry
from chat.errors import BadRequest, ConnectionNotRegistered, NotMember, RateLimited
from chat.events import caller_of
from chat.models import Connection, RoomMember

from .conftest import FakeContext, connect, connect_event, disconnect_event, handler


def caller(cid, user="u_1"):
    return caller_of(connect_event(cid, user))


def test_connect_registers_user_room_and_ttl(aws):
    connect("c1=", "u_1", room="lobby")
    row = Connection.get("c1=")
    assert (row.userId, row.rooms) == ("u_1", {"lobby"})
    lifetime = row.expiresAt - datetime.fromtimestamp(row.connectedAt / 1000, tz=timezone.utc)
    assert timedelta(seconds=7799) <= lifetime <= timedelta(seconds=7800)  # TTL is whole epoch seconds
    assert RoomMember.get("lobby", "c1=").userId == "u_1"


def test_disconnect_removes_connection_and_memberships_and_is_idempotent(aws):
    connect("c1=", "u_1", room="lobby")
    registry.join(caller("c1="), "second")
    disconnect = handler("disconnect")
    assert disconnect(disconnect_event("c1=", "u_1"), FakeContext())["statusCode"] == 200
    assert disconnect(disconnect_event("c1=", "u_1"), FakeContext())["statusCode"] == 200
    assert list(Connection.scan()) == []
    assert list(RoomMember.scan()) == []


def test_expired_rows_are_ignored_on_read(aws):
    connect("c1=", "u_1", room="lobby")
    connect("c2=", "u_1", room="lobby")
    stale = Connection.get("c1=")
    stale.expiresAt = datetime.now(timezone.utc) - timedelta(seconds=1)
    stale.save()
    member = RoomMember.get("lobby", "c1=")
    member.expiresAt = datetime.now(timezone.utc) - timedelta(seconds=1)
    member.save()
    assert registry.get("c1=") is None
    assert registry.user_page("u_1", None, 10).connection_ids == ["c2="]
    assert registry.room_page("lobby", None, 10).connection_ids == ["c2="]
    assert not registry.is_member("lobby", "c1=")


def test_join_twice_reports_already_member_and_leave_requires_membership(aws):
    connect("c1=", "u_1")
    assert registry.join(caller("c1="), "lobby") is True
    assert registry.join(caller("c1="), "lobby") is False
    registry.leave(caller("c1="), "lobby")
    with pytest.raises(NotMember):
        registry.leave(caller("c1="), "lobby")
    assert Connection.get("c1=").rooms is None


def test_join_is_capped_per_connection(aws, env):
    env.setenv("MAX_ROOMS_PER_CONNECTION", "2")
    from chat import clients

    clients.reset()
    connect("c1=", "u_1")
    registry.join(caller("c1="), "a")
    registry.join(caller("c1="), "b")
    with pytest.raises(BadRequest) as err:
        registry.join(caller("c1="), "c")
    assert err.value.code == "TOO_MANY_ROOMS"
    assert Connection.get("c1=").rooms == {"a", "b"}


def test_join_by_an_unregistered_connection_fails_cleanly(aws):
    with pytest.raises(ConnectionNotRegistered):
        registry.join(caller("ghost="), "lobby")
    assert list(RoomMember.scan()) == []


def test_rate_limit_allows_the_budget_then_refuses_within_the_minute(aws, env):
    env.setenv("RATE_LIMIT_PER_MINUTE", "3")
    from chat import clients

    clients.reset()
    connect("c1=", "u_1")
    minute = 1_700_000_000_000 // 60_000 * 60_000
    for i in range(3):
        registry.consume_send_quota("c1=", minute + i)
    with pytest.raises(RateLimited):
        registry.consume_send_quota("c1=", minute + 10)
    registry.consume_send_quota("c1=", minute + 60_000)  # next window starts afresh


def test_rate_limit_keeps_only_recent_windows_on_the_row(aws, env):
    # GIVEN a connection that sends once, then pauses, again and again
    env.setenv("RATE_LIMIT_PER_MINUTE", "3")
    from chat import clients

    clients.reset()
    connect("c1=", "u_1")
    minute = 1_700_000_000_000 // 60_000 * 60_000
    # WHEN it sends after each of several pauses of five minutes
    for pause in range(registry.STALE_RATE_KEYS + 2):
        registry.consume_send_quota("c1=", minute + pause * 5 * 60_000)
    # THEN the row never carries more than a few windows, and the latest counts one message
    windows = Connection.get("c1=").rate.as_dict()
    assert len(windows) <= registry.STALE_RATE_KEYS
    assert windows[f"w{(minute + (registry.STALE_RATE_KEYS + 1) * 5 * 60_000) // 60_000}"] == 1


def test_rate_limit_on_a_row_written_before_the_rate_map_adds_it(aws):
    # GIVEN a connection row without the rate map (registered by an older version)
    connect("c1=", "u_1")
    Connection("c1=").update(actions=[Connection.rate.remove()])
    # WHEN it sends
    registry.consume_send_quota("c1=")
    # THEN the message is counted
    assert sum(Connection.get("c1=").rate.as_dict().values()) == 1


def test_rate_limit_on_an_unknown_connection_says_not_registered(aws):
    with pytest.raises(ConnectionNotRegistered):
        registry.consume_send_quota("ghost=")


def test_room_audience_is_paginated(aws):
    for i in range(7):
        connect(f"c{i}=", f"u_{i}", room="lobby")
    seen, cursor, pages = [], None, 0
    while True:
        page = registry.room_page("lobby", cursor, 3)
        seen += page.connection_ids
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"c{i}=" for i in range(7))
    assert pages >= 3
