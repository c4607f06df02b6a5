"""Lambda proxy responses. For two-way routes API Gateway sends ``body`` to the caller."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chat.errors import ChatError
from chat.protocol import error_frame


def frame(payload: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(payload, separators=(",", ":"), ensure_ascii=False)}


def ok(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return frame(payload) if payload is not None else {"statusCode": 200}


def error(err: ChatError, *, action: str | None = None,
          valid_actions: Sequence[str] | None = None) -> dict[str, Any]:
    """The error frame of ``err`` with the status the error class defines."""
    return frame(
        error_frame(err.code, str(err), action=action, field=getattr(err, "field", None),
                    valid_actions=valid_actions),
        status=err.status,
    )
