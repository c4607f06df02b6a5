"""What the services tell the logs and the metrics about a message, in one place: the service modules
call these one-liners, chat.logs and chat.metrics decide how it is written.

Trace of one message: once an invocation knows the message's id, every later log line of it carries
``message_id`` and its EMF documents the ``messageId`` property; a fan-out continuation takes the id
from the frame it delivers, so the lines and metrics of every invocation a message spawned carry it.
"""

from __future__ import annotations

from typing import Any, Protocol

from chat import logs, metrics
from chat.errors import ChatError, RateLimited, Throttled


class Deliveries(Protocol):
    """What a fan-out's report tells (chat.fanout.DeliveryReport), as the metrics read it."""

    delivered: int
    gone: int
    failed: int
    last_delivered_ms: int | None

    @property
    def continuations(self) -> int: ...

ANSWERS = ((RateLimited, "RateLimited"), (Throttled, "Throttled"))


def message(message_id: str | None) -> None:
    """This invocation works on message ``message_id`` from here on."""
    logs.append_keys(message_id=message_id)
    metrics.set_property("messageId", message_id)


def sent(kind: str) -> None:
    metrics.count("MessagesSent", Kind=kind)


def duplicate() -> None:
    metrics.count("DuplicateMessages")


def continuation(message_id: str | None, job_id: str | None, hop: int) -> None:
    """A fan-out worker invocation: the message, the job and the hop it continues."""
    message(message_id)
    logs.append_keys(fanout_job_id=job_id or None, fanout_hop=hop)
    metrics.set_property("fanoutJobId", job_id or None)
    metrics.sample("FanoutHop", hop)


def delivery(report: Deliveries, frame: dict[str, Any]) -> None:
    """Counts what ``report`` holds when the invocation ends (also when it fails half-way)."""

    def record() -> None:
        metrics.count("DeliveriesDelivered", report.delivered)
        metrics.count("DeliveriesGone", report.gone)
        metrics.count("DeliveriesFailed", report.failed)
        if report.continuations:
            metrics.count("FanoutContinuations", report.continuations)
        sent_at = frame.get("sentAt")
        if report.last_delivered_ms is not None and isinstance(sent_at, int):
            metrics.sample("FanoutTimeToLastDelivery", max(0, report.last_delivered_ms - sent_at))

    metrics.on_flush(record)


def hop_limit_reached() -> None:
    metrics.count("FanoutHopLimitReached")


def answered(error: ChatError) -> None:
    """An error frame (or status) this invocation answers with: the ones an operator watches count."""
    for cls, name in ANSWERS:
        if isinstance(error, cls):
            metrics.count(name)


def denied(reason: str) -> None:
    metrics.count("AuthorizerDenials", Reason=reason)
