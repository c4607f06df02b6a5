"""Ids shaped like API Gateway's and Lambda's. They are not secrets: a seeded PRNG avoids one
getrandom() syscall per id on the message hot path."""

from __future__ import annotations

import base64
import random

_ids = random.Random()  # noqa: S311

_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def random_id(nbytes: int = 11) -> str:
    """An id shaped like API Gateway's (e.g. ``BFaT_fALIAMCKug=``)."""
    return base64.urlsafe_b64encode(_ids.getrandbits(nbytes * 8).to_bytes(nbytes, "big")).decode()


def new_request_id() -> str:
    """A Lambda request id: a version 4 UUID, formatted without building a ``uuid.UUID`` (hot path)."""
    h = f"{_ids.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
