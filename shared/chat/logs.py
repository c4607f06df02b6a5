"""Structured JSON logs through Powertools for AWS Lambda's ``Logger``: one JSON object per line with
``level``, ``location``, ``message``, ``timestamp`` (RFC 3339, UTC), ``service``, ``logger``, the
invocation's keys (``route``, ``connection_id``, ``request_id``, ``function``, and ``message_id`` once the
invocation works on a message), the call's own fields, and ``xray_trace_id`` when Lambda traces it.

Tokens and message bodies must never be logged: :class:`RedactingFormatter` replaces the value of every
key whose name says it could hold one (at any depth, wherever it came from: a call's fields or the
invocation's keys), as a second line of defence behind the call sites.

The invocation's keys are Powertools' thread-safe keys (a context variable), so invocations running side
by side in one process (the local emulator's handler threads) never see each other's. Threads an
invocation starts get them through :func:`carry_context`.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "wschat"
REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset({"token", "text", "body", "authorization", "jwt", "secret", "password", "data"})
# LogRecord's own attributes: a field with one of these names would be refused by logging (KeyError)
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
T = TypeVar("T")


def redact(value: Any) -> Any:
    """``value`` with every secret-named key's value replaced, in nested objects and lists too."""
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in _SECRET_FIELDS else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, redacting secret-named keys of the finished log object."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(redact(log))


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


@functools.cache
def powertools_logger() -> Logger:
    """The one Powertools Logger of the package (configured on first use)."""
    logger = Logger(service=SERVICE, level=logging.INFO, logger_handler=_StdoutHandler(),
                    logger_formatter=RedactingFormatter(utc=True, use_rfc3339=True, serialize_stacktrace=False))
    # One line per event: never also through the root logger's handlers (Lambda's, or a host process's
    # added after Powertools filtered the ones it found).
    logging.getLogger(SERVICE).propagate = False
    return logger


class ChatLogger:
    """A named view of the package logger: every line says which module logged it (``logger``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def log(self, level: int, message: str, *, exc_info: Any = None, stacklevel: int = 2, **fields: Any) -> None:
        extra = {("field_" + k if k in _RECORD_ATTRIBUTES else k): v for k, v in fields.items()}
        powertools_logger().log(level, message, exc_info=exc_info, stacklevel=stacklevel,
                                extra={"logger": self.name, **extra})

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return powertools_logger().isEnabledFor(level)

    def exception(self, message: str, extra: dict[str, Any] | None = None, **fields: Any) -> None:
        """An ERROR line with the exception being handled (``extra={"fields": {...}}`` as logging takes it)."""
        self.log(logging.ERROR, message, exc_info=True, stacklevel=3, **((extra or {}).get("fields") or {}), **fields)


def get_logger(name: str = "chat") -> ChatLogger:
    return ChatLogger(name)


def log_event(logger: ChatLogger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, stacklevel=3, **fields)


def set_level(level: str) -> None:
    logger = powertools_logger()
    if logging.getLevelName(logger.log_level) != level:  # setLevel clears every logger's cache: not per call
        logger.setLevel(level)


# ---- the invocation's keys ------------------------------------------------------------------------

def start_invocation(**keys: Any) -> None:
    """Forgets the previous invocation's keys (this thread's) and sets these (None values left out)."""
    logger = powertools_logger()
    logger.thread_safe_clear_keys()
    append_keys(**keys)


def append_keys(**keys: Any) -> None:
    """Adds keys to every later line of this invocation (e.g. ``message_id`` once it is known)."""
    present = {k: v for k, v in keys.items() if v is not None}
    if present:
        powertools_logger().thread_safe_append_keys(**present)


def current_keys() -> dict[str, Any]:
    return dict(powertools_logger().thread_safe_get_current_keys())


def end_invocation() -> None:
    powertools_logger().thread_safe_clear_keys()


def carry_context(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` running with the keys this thread has now: for the threads an invocation starts (a
    thread starts without its creator's context variables)."""
    keys = current_keys()

    def run(*args: Any, **kwargs: Any) -> T:
        start_invocation(**keys)
        try:
            return fn(*args, **kwargs)
        finally:
            end_invocation()

    return run


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)
