"""Length-prefixed pickles over a stream socket: the gateway <-> function worker channel.

A frame is a 4-byte big-endian length and that many bytes of pickle. Both ends are our own code
in processes we spawned, so pickle is safe here; the socket is a private socket pair.
"""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator
from typing import Any

HEADER = 4
MAX_FRAME = (1 << 32) - 1


def frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_FRAME:
        raise ValueError(f"a {len(data)} byte frame does not fit the 4-byte length")
    return len(data).to_bytes(HEADER, "big") + data


class FrameReader:
    """Reassembles frames from the chunks a socket hands out (a frame may span chunks)."""

    def __init__(self, chunk_bytes: int = 1 << 16) -> None:
        self._buffer = bytearray()
        # One reused receive buffer, below malloc's mmap threshold: recv(n) would allocate n bytes per call.
        self._chunk = bytearray(chunk_bytes)

    def receive(self, sock: socket.socket) -> list[Any] | None:
        """The frames one ``recv`` from ``sock`` completes; None once the peer has closed it
        (``BlockingIOError`` from a non-blocking socket passes through)."""
        size = sock.recv_into(self._chunk)
        if not size:
            return None
        with memoryview(self._chunk) as view:
            return list(self.feed(view[:size]))

    def feed(self, data: bytes) -> Iterator[Any]:
        buffer = self._buffer
        buffer += data
        start, end = 0, len(buffer)
        view = memoryview(buffer)
        try:
            while end - start >= HEADER:
                size = int.from_bytes(view[start:start + HEADER], "big")
                if end - start - HEADER < size:
                    break
                start += HEADER
                value = pickle.loads(view[start:start + size])  # noqa: S301 - our own spawned worker (module doc)
                start += size
                yield value
        finally:
            view.release()
            del buffer[:start]
