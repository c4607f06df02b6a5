"""Many real WebSocket clients in one process (websockets asyncio client), on 127.0.0.1 only.

Clients connect in bounded-concurrency batches and count every ``{"type": "message"}`` frame by
messageId: how many distinct clients got it, when each got it, and duplicates (same client twice).
Other frames (acks, pongs, errors) go to the client's ``replies`` queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from emulator.config import DEV_JWT_SECRET
from emulator.tokens import mint_token

CONNECT_TIMEOUT_S = 60.0
CONNECT_ATTEMPTS = 5


@dataclass
class Client:
    index: int
    user: str
    room: str | None
    ws: ClientConnection | None = None
    seen: dict[str, float] = field(default_factory=dict)  # messageId -> perf_counter at receipt
    replies: asyncio.Queue[tuple[float, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    async def send(self, frame: dict[str, Any]) -> float:
        assert self.ws is not None
        t = time.perf_counter()
        await self.ws.send(json.dumps(frame, separators=(",", ":")))
        return t

    async def reply(self, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
        return await asyncio.wait_for(self.replies.get(), timeout)


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
        self.received: dict[str, int] = defaultdict(int)
        self.duplicates: dict[str, int] = defaultdict(int)
        self.watches: dict[str, Watch] = {}
        self.connect_failures = 0
        self.failure_reasons: Counter[str] = Counter()

    # --- connecting ----------------------------------------------------------------------------
    async def grow(self, rooms: list[str | None], concurrency: int = 64, prefix: str = "u") -> list[Client]:
        """Connect one client per entry of ``rooms`` (None = no room); returns them in order."""
        start = len(self.clients)
        new = [Client(start + i, f"{prefix}{start + i}", room) for i, room in enumerate(rooms)]
        gate = asyncio.Semaphore(concurrency)

        async def one(c: Client) -> None:
            async with gate:
                await self._open(c)

        await asyncio.gather(*(one(c) for c in new))
        self.clients.extend(new)
        return new

    async def _open(self, c: Client) -> None:
        token = mint_token(c.user, self.secret, ttl_seconds=7200, **self.claims)
        url = f"{self.ws_url}?token={token}" + (f"&room={c.room}" if c.room else "")
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                c.ws = await connect(url, ping_interval=None, close_timeout=2, compression=None,
                                     open_timeout=CONNECT_TIMEOUT_S, max_size=2**20)
                break
            except (InvalidStatus, OSError, TimeoutError) as e:
                self.connect_failures += 1
                reason = f"HTTP {e.response.status_code}" if isinstance(e, InvalidStatus) else type(e).__name__
                self.failure_reasons[reason] += 1
                if attempt + 1 == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))  # back off before retrying a refused handshake
        c.reader = asyncio.get_running_loop().create_task(self._read(c))

    async def _read(self, c: Client) -> None:
        assert c.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for raw in c.ws:
                t = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") == "message":
                    self._on_message(c, str(frame.get("messageId")), t)
                else:
                    c.replies.put_nowait((t, frame))

    def _on_message(self, c: Client, message_id: str, t: float) -> None:
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
                if c.ws is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(c.ws.close(), 5)
                if c.reader is not None:
                    c.reader.cancel()

        await asyncio.gather(*(one(c) for c in chosen))
        ids = {c.index for c in chosen}
        self.clients = [c for c in self.clients if c.index not in ids]
