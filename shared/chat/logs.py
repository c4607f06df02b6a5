"""Structured JSON logs, one event per line, with connection_id/route/request_id fields.

Tokens and message bodies must never be logged: :class:`RedactingFilter` drops any field whose
name says it could hold one, as a second line of defence behind the call sites.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

_SECRET_FIELDS = frozenset({"token", "text", "body", "authorization", "jwt", "secret", "password", "data"})
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "chat_log_context", default=None
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get() or {})
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = {k: ("[redacted]" if k.lower() in _SECRET_FIELDS else v) for k, v in fields.items()}
        return True


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at emit time (test capture, runtime redirection)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


_configured = False


def get_logger(name: str = "chat") -> logging.Logger:
    """The package logger, configured on first use (Lambda's root handler is replaced)."""
    global _configured
    logger = logging.getLogger("chat")
    if not _configured:
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RedactingFilter())
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        _configured = True
    return logger if name == "chat" else logger.getChild(name.removeprefix("chat."))


def set_level(level: str) -> None:
    logger = get_logger()
    if logging.getLevelName(logger.level) != level:  # setLevel clears every logger's cache: not per call
        logger.setLevel(level)


def bind_context(**fields: Any) -> contextvars.Token:
    """Adds fields (route, connection_id, request_id, function) to every log line of this request."""
    return _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def reset_context(token: contextvars.Token) -> None:
    _context.reset(token)


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)
