"""The gateway's live connections: one small object per socket (10,000 idle ones must stay cheap)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class Connection:
    __slots__ = ("id", "ws", "base_context", "authorizer", "source_ip", "user_agent", "host",
                 "connected_at_epoch", "connected_at_mono", "last_active_mono", "close_code", "close_reason",
                 "closing", "idle_timer", "max_timer")

    def __init__(self, connection_id: str, ws: web.WebSocketResponse, base_context: dict[str, Any],
                 authorizer: dict[str, Any] | None, *, source_ip: str, user_agent: str | None, host: str,
                 connected_at_epoch: float, connected_at_mono: float) -> None:
        self.id = connection_id
        self.ws = ws
        self.base_context = base_context
        self.authorizer = authorizer
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.host = host
        self.connected_at_epoch = connected_at_epoch
        self.connected_at_mono = connected_at_mono
        self.last_active_mono = connected_at_mono
        self.close_code: int | None = None  # set when the gateway closes (idle, max age, DELETE, ...)
        self.close_reason = ""
        self.closing = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self.max_timer: asyncio.TimerHandle | None = None

    def last_active_epoch(self) -> float:
        return self.connected_at_epoch + (self.last_active_mono - self.connected_at_mono)

    def cancel_timers(self) -> None:
        for timer in (self.idle_timer, self.max_timer):
            if timer is not None:
                timer.cancel()
        self.idle_timer = self.max_timer = None


class ConnectionRegistry:
    """connectionId -> Connection. A connection leaves the registry as soon as it starts closing, so
    @connections answers 410 for it from then on (as on AWS)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Connection] = {}

    def add(self, conn: Connection) -> None:
        self._by_id[conn.id] = conn

    def get(self, connection_id: str) -> Connection | None:
        conn = self._by_id.get(connection_id)
        if conn is None or conn.closing:
            return None
        return conn

    def remove(self, connection_id: str) -> None:
        self._by_id.pop(connection_id, None)

    def all(self) -> list[Connection]:
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)
