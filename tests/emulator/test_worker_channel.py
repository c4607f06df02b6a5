"""The gateway <-> function worker channel: frames that survive any chunking, and ids that keep
their AWS formats on the hot path."""

from __future__ import annotations

import pickle
import random
import uuid

import pytest

from emulator.frames import HEADER, FrameReader, frame
from emulator.ids import new_request_id

VALUES = [(1, "default", {"requestContext": {"connectionId": "abc="}, "body": "x" * 5000}, "rid", 29.0),
          (2, True, {"statusCode": 200, "body": "é☃"}), None, (3, False, ("ValueError", "bad", ["tb"]))]


def test_frames_come_back_whole_and_in_order_however_the_stream_is_cut():
    stream = b"".join(frame(v) for v in VALUES)
    rng = random.Random(7)
    for _ in range(200):
        reader, got, at = FrameReader(), [], 0
        while at < len(stream):
            step = rng.randint(1, 700)
            got += list(reader.feed(stream[at:at + step]))
            at += step
        assert got == VALUES


def test_a_partial_frame_waits_for_the_rest():
    data = frame({"k": "v" * 100})
    reader = FrameReader()
    assert list(reader.feed(data[:HEADER + 10])) == []
    assert list(reader.feed(data[HEADER + 10:])) == [{"k": "v" * 100}]


def test_a_frame_is_a_big_endian_length_then_a_pickle():
    data = frame([1, 2])
    assert int.from_bytes(data[:HEADER], "big") == len(data) - HEADER
    assert pickle.loads(data[HEADER:]) == [1, 2]


def test_an_unpicklable_value_raises_at_the_sender():
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        frame(lambda: None)


def test_request_ids_are_version_4_uuids_in_canonical_form():
    ids = {new_request_id() for _ in range(5000)}
    assert len(ids) == 5000
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == rid


def test_receive_reads_frames_off_a_socket_until_the_peer_closes():
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        big = {"body": "y" * 200_000}  # longer than one receive buffer
        theirs.sendall(frame(1) + frame(big) + frame(None))
        theirs.shutdown(socket.SHUT_WR)
        reader, got = FrameReader(chunk_bytes=4096), []
        while (frames := reader.receive(ours)) is not None:
            got += frames
        assert got == [1, big, None]
