"""Lambda proxy responses. For two-way routes API Gateway sends ``body`` to the caller."""

from __future__ import annotations

import json
from typing import Any

from chat.errors import ChatError
from chat.protocol import error_frame

_STATUS = {
    "BAD_REQUEST": 400, "UNKNOWN_ACTION": 400, "PAYLOAD_TOO_LARGE": 413, "SENDER_NOT_ALLOWED": 403,
    "FORBIDDEN": 403, "NOT_A_MEMBER": 403, "NOT_FOUND": 404, "NOT_CONNECTED": 404,
    "TOO_MANY_ROOMS": 409, "RATE_LIMITED": 429, "UNAUTHORIZED": 401, "INVALID_TOKEN": 403,
    "THROTTLED": 503,
}


def status_of(err: ChatError) -> int:
    return _STATUS.get(err.code, 500)


def frame(payload: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(payload, separators=(",", ":"), ensure_ascii=False)}


def ok(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return frame(payload) if payload is not None else {"statusCode": 200}


def error(err: ChatError, *, action: str | None = None, valid_actions: bool = False) -> dict[str, Any]:
    code = err.code
    return frame(
        error_frame(code, str(err), action=action, field=getattr(err, "field", None),
                    valid_actions=valid_actions),
        status=status_of(err),
    )
