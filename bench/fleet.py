"""Many real WebSocket clients in one process (the harness's client), on 127.0.0.1 only.

Clients connect in bounded-concurrency batches and count every ``{"type": "message"}`` frame by
messageId: how many distinct clients got it, when each got it, and duplicates (same client twice).
Other frames (acks, pongs, errors) go to the client's ``replies`` queue.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from emulator.config import DEV_JWT_SECRET
from emulator.tokens import mint_token
from harness.client import ChatClient

CONNECT_TIMEOUT_S = 60.0


class Client(ChatClient):
    """A fleet member: counts its ``message`` frames with the fleet (``seen``: messageId -> arrival)."""

    def __init__(self, fleet: Fleet, index: int, user: str, room: str | None) -> None:
        super().__init__()
        self.fleet = fleet
        self.index = index
        self.user = user
        self.room = room
        self.seen: dict[str, float] = {}

    def on_message(self, frame: dict[str, Any], t: float) -> None:
        self.fleet.on_message(self, str(frame.get("messageId")), t)

    def on_connect_failure(self, reason: str) -> None:
        self.fleet.connect_failures += 1
        self.fleet.failure_reasons[reason] += 1


@dataclass
class Watch:
    """Waits for one messageId to reach ``target`` distinct recipients."""

    target: int
    count: int = 0
    last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Fleet:
    def __init__(self, ws_url: str, secret: str = DEV_JWT_SECRET, claims: dict[str, Any] | None = None) -> None:
        self.ws_url = ws_url
        self.secret = secret
        self.claims = dict(claims or {})  # extra token claims (iss/aud where the authorizer requires them)
        self.clients: list[Client] = []
        self._next_index = 0
        self.received: dict[str, int] = defaultdict(int)
        self.duplicates: dict[str, int] = defaultdict(int)
        self.watches: dict[str, Watch] = {}
        self.connect_failures = 0
        self.failure_reasons: Counter[str] = Counter()

    # --- connecting ----------------------------------------------------------------------------
    async def grow(self, rooms: list[str | None], concurrency: int = 64, prefix: str = "u",
                   users: list[str] | None = None) -> list[Client]:
        """Connect one client per entry of ``rooms`` (None = no room); returns them in order. Users are
        ``<prefix><index>`` (one connection each) unless ``users`` names them (several may repeat)."""
        start, self._next_index = self._next_index, self._next_index + len(rooms)  # never reused after a close
        names = users or [f"{prefix}{start + i}" for i in range(len(rooms))]
        new = [Client(self, start + i, names[i], room) for i, room in enumerate(rooms)]
        gate = asyncio.Semaphore(concurrency)

        async def one(c: Client) -> None:
            async with gate:
                await self._open(c)

        await asyncio.gather(*(one(c) for c in new))
        self.clients.extend(new)
        return new

    async def _open(self, c: Client) -> None:
        token = mint_token(c.user, self.secret, ttl_seconds=7200, **self.claims)
        await c.connect(f"{self.ws_url}?token={token}" + (f"&room={c.room}" if c.room else ""),
                        open_timeout=CONNECT_TIMEOUT_S)

    def on_message(self, c: Client, message_id: str, t: float) -> None:
        if message_id in c.seen:
            self.duplicates[message_id] += 1
            return
        c.seen[message_id] = t
        self.received[message_id] += 1
        watch = self.watches.get(message_id)
        if watch is not None:
            watch.count += 1
            watch.last = t
            if watch.count >= watch.target:
                watch.done.set()

    # --- observing deliveries ------------------------------------------------------------------
    def watch(self, message_id: str, target: int) -> Watch:
        w = self.watches[message_id] = Watch(target)
        w.count = self.received.get(message_id, 0)  # frames that beat the ack here
        if w.count:
            w.last = max(c.seen[message_id] for c in self.clients if message_id in c.seen)
        if w.count >= target:
            w.done.set()
        return w

    def delivery(self, message_id: str, audience: list[Client]) -> dict[str, int]:
        """Exactly-once accounting over ``audience`` (the clients that should have it)."""
        members = {c.index for c in audience}
        got = sum(1 for c in audience if message_id in c.seen)
        strangers = sum(1 for c in self.clients if c.index not in members and message_id in c.seen)
        return {"intended": len(audience), "received_once": got, "missing": len(audience) - got,
                "duplicates": self.duplicates.get(message_id, 0), "unintended": strangers}

    async def close(self, clients: list[Client] | None = None, concurrency: int = 256) -> None:
        chosen = self.clients if clients is None else clients
        gate = asyncio.Semaphore(concurrency)

        async def one(c: Client) -> None:
            async with gate:
                await c.close()

        await asyncio.gather(*(one(c) for c in chosen))
        ids = {c.index for c in chosen}
        self.clients = [c for c in self.clients if c.index not in ids]
