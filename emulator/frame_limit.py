"""API Gateway's WebSocket frame quota: a frame of more than 32 KB closes the connection with 1009,
while a message of up to 128 KB may arrive as several frames of at most 32 KB each
(shared/AWS_FACTS.md; AWS's "Quotas for configuring and running a WebSocket API").

aiohttp's reader reassembles fragmented messages before the gateway sees them and limits only the
whole message (``max_msg_size``), so the frame limit sits in front of it: :class:`FrameSizeGuard`
reads the header of every frame in the raw byte stream (payloads are skipped by arithmetic, never
copied) and passes the bytes on to aiohttp's reader unchanged, holding back only a header split
across two reads until it is complete. When a data frame (text, binary or continuation) declares more
than the limit, the reader gets everything before that frame and then the frame's first byte with
a length no reader accepts: aiohttp itself fails with ``WebSocketError(1009)`` at exactly that point
of the stream, after the frames before it (even while it is stalled by back-pressure), and closes
the connection with 1009 as it does for an oversized message.

:class:`QuotaWebSocketResponse` installs the guard when the handshake completes. That is the one
place this module reaches into aiohttp's request handler (``_payload_parser``, ``_message_tail``):
bytes that arrive between the 101 response and the parser being set are kept in the tail and must
pass the guard too. tests/emulator/test_frame_limit.py pins this against the installed aiohttp.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

DATA_OPCODES = frozenset({0x0, 0x1, 0x2})  # continuation, text, binary
#: A 64-bit length over aiohttp's MAX_PAYLOAD_LEN: its reader raises WebSocketError(1009) on reading it.
REFUSED_LENGTH = b"\x7f" + (2**63 - 1).to_bytes(8, "big")


class FrameSizeGuard:
    """Wraps aiohttp's WebSocketReader (``feed_data``/``feed_eof``); see the module docstring."""

    __slots__ = ("_reader", "_limit", "_head", "_skip", "failed")

    def __init__(self, reader: Any, limit: int) -> None:
        self._reader = reader
        self._limit = limit
        self._head = b""  # the start of a frame header that the last read cut off (held back)
        self._skip = 0  # payload bytes of the current frame still to pass by
        self.failed = False

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        if self.failed:
            return True, b""
        stream = self._head + bytes(data) if self._head else bytes(data)
        self._head = b""
        violation = self._scan(stream)
        if violation is not None:
            self.failed = True
            return self._reader.feed_data(stream[:violation + 1] + REFUSED_LENGTH)  # type: ignore[no-any-return]
        ready = len(stream) - len(self._head)
        if not ready:
            return False, b""
        return self._reader.feed_data(stream if ready == len(stream) else stream[:ready])  # type: ignore[no-any-return]

    def _scan(self, stream: bytes) -> int | None:
        """Follows the frame boundaries through ``stream``: the offset of the first data frame over
        the limit, else None (an incomplete header at the end is left in ``_head``)."""
        pos, end = 0, len(stream)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            if end - pos < 2 or end - pos < _header_length(stream[pos], stream[pos + 1]):
                self._head = stream[pos:]
                return None
            first, second = stream[pos], stream[pos + 1]
            size = _payload_length(stream, pos, second)
            if first & 0x0F in DATA_OPCODES and size > self._limit:
                return pos
            pos += _header_length(first, second)
            self._skip = size
        return None


def _header_length(first: int, second: int) -> int:
    length = second & 0x7F
    return 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if second & 0x80 else 0)


def _payload_length(stream: bytes, pos: int, second: int) -> int:
    length = second & 0x7F
    if length == 126:
        return int.from_bytes(stream[pos + 2:pos + 4], "big")
    if length == 127:
        return int.from_bytes(stream[pos + 2:pos + 10], "big")
    return length


class QuotaWebSocketResponse(web.WebSocketResponse):
    """A WebSocketResponse whose frames may not exceed ``max_frame_size`` bytes (close 1009)."""

    def __init__(self, *, max_frame_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_frame_size = max_frame_size

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        handler = request.protocol
        tail, handler._message_tail = handler._message_tail, b""  # frames that came with the upgrade
        super()._post_start(request, protocol, writer)
        guard = FrameSizeGuard(handler._payload_parser, self._max_frame_size)
        handler._payload_parser = guard
        if tail:
            eof, _ = guard.feed_data(tail)
            if eof:
                handler.close()
