"""The frame-size guard in front of aiohttp's WebSocket reader (emulator/frame_limit.py), on raw bytes:
every split of the stream into reads gives the reader the same bytes, and an oversized frame ends
the stream in aiohttp's own 1009 right after the frames before it."""

from __future__ import annotations

import asyncio
import os
import random
import struct

import pytest
from aiohttp.http_websocket import WebSocketError, WSMsgType

from emulator.frame_limit import REFUSED_LENGTH, FrameSizeGuard

LIMIT = 32 * 1024
TEXT, CONTINUATION, PING = 0x1, 0x0, 0x9


def client_frame(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A masked frame as a client sends it (7-, 16- or 64-bit length as the size needs)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 2**16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RecordingReader:
    def __init__(self) -> None:
        self.received = bytearray()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.received += data
        return False, b""

    def feed_eof(self) -> None:
        pass


def feed_in_reads(stream: bytes, cuts: list[int]) -> tuple[RecordingReader, FrameSizeGuard, list[bool]]:
    reader = RecordingReader()
    guard = FrameSizeGuard(reader, LIMIT)
    eofs, start = [], 0
    for cut in [*sorted(cuts), len(stream)]:
        eofs.append(guard.feed_data(stream[start:cut])[0])
        start = cut
    return reader, guard, eofs


FRAMES = [client_frame(b"x" * 10), client_frame(b"y" * 200), client_frame(b"a" * 1000, fin=False),
          client_frame(b"p", PING), client_frame(b"b" * LIMIT, CONTINUATION, fin=False),
          client_frame(b"c" * 20_000, CONTINUATION)]


@pytest.mark.parametrize("seed", range(40))
def test_frames_within_the_limit_reach_the_reader_byte_for_byte_however_the_reads_split(seed):
    rng = random.Random(seed)
    stream = b"".join(FRAMES)
    cuts = rng.sample(range(1, len(stream)), rng.randint(1, 60)) if seed else list(range(1, 40))
    reader, guard, eofs = feed_in_reads(stream, cuts)
    assert bytes(reader.received) == stream and not any(eofs) and not guard.failed


@pytest.mark.parametrize("seed", range(40))
def test_an_oversized_frame_ends_the_stream_right_after_the_frames_before_it(seed):
    rng = random.Random(seed)
    before = b"".join(FRAMES[:4])
    oversized = client_frame(b"z" * (LIMIT + 1), CONTINUATION if seed % 2 else TEXT)
    stream = before + oversized + client_frame(b"never")
    cuts = rng.sample(range(1, len(stream)), rng.randint(1, 60))
    reader, guard, _ = feed_in_reads(stream, cuts)
    assert guard.failed
    assert bytes(reader.received) == before + oversized[:1] + REFUSED_LENGTH


def test_a_64_bit_length_over_the_limit_is_refused_before_any_payload_arrives():
    reader = RecordingReader()
    guard = FrameSizeGuard(reader, LIMIT)
    header = client_frame(b"q" * 70_000)[:14]  # first byte, 127, 8-byte length, mask
    assert guard.feed_data(header[:3]) == (False, b"")  # incomplete header: held back
    guard.feed_data(header[3:])
    assert guard.failed and bytes(reader.received) == header[:1] + REFUSED_LENGTH


class _Protocol:
    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


async def test_aiohttps_reader_delivers_the_earlier_message_then_fails_with_1009():
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

    # GIVEN aiohttp's own reader (the compiled one when installed) behind the guard
    queue = WebSocketDataQueue(_Protocol(), 2**16, loop=asyncio.get_running_loop())
    guard = FrameSizeGuard(WebSocketReader(queue, 128 * 1024 + 1, compress=False, decode_text=True), LIMIT)
    # WHEN a small message and an oversized frame arrive in one read
    eof, _ = guard.feed_data(client_frame(b'{"action":"ping"}') + client_frame(b"z" * (40 * 1024)))
    # THEN the small message is read first, then the reader fails with 1009
    assert eof
    first = await queue.read()
    assert (first.type, first.data) == (WSMsgType.TEXT, '{"action":"ping"}')
    with pytest.raises(WebSocketError) as failure:
        await queue.read()
    assert failure.value.code == 1009
