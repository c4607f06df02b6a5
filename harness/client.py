"""The one Python WebSocket client of the chat protocol that the benchmarks and the load test use:
the ``websockets`` asyncio client, loopback only.

A reader task splits what arrives: ``{"type": "message"}`` frames go to :meth:`ChatClient.on_message`
(a subclass counts or records them), every other frame (acks, pongs, errors, gateway frames) to the
``replies`` queue with its arrival time. All times are :func:`clock` (``time.perf_counter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

clock = time.perf_counter
CONNECT_ATTEMPTS = 5


class ChatClient:
    def __init__(self) -> None:
        self.ws: ClientConnection | None = None
        self.replies: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None

    # --- what a subclass adds ------------------------------------------------------------------
    def on_message(self, frame: dict[str, Any], t: float) -> None:
        """A ``message`` frame arrived at ``t`` (default: kept with the replies)."""
        self.replies.put_nowait((t, frame))

    def on_closed(self) -> None:
        """The connection of the current reader ended (either side closed it)."""

    def on_connect_failure(self, reason: str) -> None:
        """One handshake attempt failed (``HTTP 429``, ``TimeoutError``, ...); it is retried."""

    async def backoff(self, attempt: int) -> None:
        await asyncio.sleep(0.2 * (attempt + 1))  # before retrying a refused handshake

    # --- connecting, sending, receiving --------------------------------------------------------
    async def connect(self, url: str, *, open_timeout: float = 60.0, attempts: int = CONNECT_ATTEMPTS) -> None:
        """Opens the connection (retrying a failed handshake); raises the last error after ``attempts``."""
        for attempt in range(attempts):
            try:
                self.ws = await connect(url, ping_interval=None, close_timeout=2, compression=None,
                                        open_timeout=open_timeout, max_size=2**20)
                break
            except (InvalidHandshake, OSError, TimeoutError) as e:
                self.on_connect_failure(f"HTTP {e.response.status_code}" if isinstance(e, InvalidStatus)
                                        else type(e).__name__)
                if attempt + 1 == attempts:
                    raise
                await self.backoff(attempt)
        self.replies = asyncio.Queue()
        self.reader = asyncio.get_running_loop().create_task(self._read(self.ws, self.replies))

    async def _read(self, ws: ClientConnection, replies: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
        try:
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    t = clock()
                    frame = json.loads(raw)
                    if frame.get("type") == "message":
                        self.on_message(frame, t)
                    else:
                        replies.put_nowait((t, frame))
        finally:
            self.on_closed()

    @property
    def connected(self) -> bool:
        return self.reader is not None and not self.reader.done()

    async def send(self, frame: dict[str, Any] | str) -> float:
        """Sends a frame (a dict is JSON-encoded); returns the time just before it was sent."""
        assert self.ws is not None
        body = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        t = clock()
        await self.ws.send(body)
        return t

    async def reply(self, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
        """The next non-message frame and its arrival time (TimeoutError after ``timeout``)."""
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Closes the connection and waits for the reader to finish."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), timeout)
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.reader, timeout)
