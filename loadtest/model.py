"""What a load run records and how it is judged: exactly-once delivery and per-sender order, measured
from the clients' side, by (sender, clientMessageId) and messageId.

Intended recipients
-------------------
A message ``m`` sent into room ``R`` by connection ``S`` is *intended* for every other connection ``C``
of room ``R`` such that

1. ``C``'s handshake completed before ``m`` was first sent (its $connect had registered it in ``R``), and
2. ``C`` was still open when ``S`` received the ack of ``m`` (the ack comes after the fan-out finished),
   or, if the ack says the fan-out was handed off (``delivery.continued``) or is a duplicate ack (a resend
   after a timeout: the original invocation may still be fanning out), ``C`` stayed open until the end
   of the run.

Messages that were never acked (the sender gave up or closed) have no intended recipients; receiving
them is counted as ``unacked_received``, not as an error. A delivery to a connection that was not an
intended recipient (e.g. it connected while the fan-out ran) is counted as ``extra``, not as an error.

* lost: intended (message, connection) pairs never received by the end of the drain.
* duplicated (wire repeats): deliveries beyond the first of the same clientMessageId on the same
  connection, as they come off the wire (a fan-out retried after a slow post, a resend's redelivery).
* duplicated_after_dedupe: what an application that drops repeats by ``messageId`` still sees twice: a
  clientMessageId that reached one connection under more than one messageId (stored twice).
* wrong_message_id: a clientMessageId seen under two messageIds (stored twice), or not under the
  messageId its ack named.
* order violations: on one connection, two messages of one sender received in the opposite order to
  the one they were sent in, where the earlier one was not handed off (the protocol promises per-sender
  order only for a client that waits for each ack and fan-outs that finish before the ack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.stats import percentile


@dataclass
class Epoch:
    """One WebSocket connection of a client (a client reconnecting gets a new epoch)."""

    key: tuple[str, int]  # (user, n)
    room: str
    opened: float
    closed: float | None = None
    received: list[tuple[str, float]] = field(default_factory=list)  # (clientMessageId, monotonic time)
    message_ids: dict[str, set[str]] = field(default_factory=dict)  # clientMessageId -> messageIds seen


@dataclass
class Sent:
    key: str  # the clientMessageId, "<user>.<seq>"
    sender: tuple[str, int]
    room: str
    seq: int
    first_sent: float
    acked: float | None = None
    message_id: str | None = None
    continued: bool = False
    attempts: int = 0
    confirmations: int = 0  # resends once the ack's retryAfterMs (another invocation's delivery lease) ran out
    errors: list[str] = field(default_factory=list)


def intended(message: Sent, epochs: list[Epoch], run_end: float) -> list[Epoch]:
    if message.acked is None:
        return []
    out = []
    for epoch in epochs:
        if epoch.room != message.room or epoch.key == message.sender:
            continue
        if epoch.opened > message.first_sent:
            continue
        must_be_open_until = run_end if message.continued else message.acked
        if epoch.closed is not None and epoch.closed < must_be_open_until:
            continue
        out.append(epoch)
    return out


def judge(sent: dict[str, Sent], epochs: list[Epoch], run_end: float,
          by_room: dict[str, list[Epoch]] | None = None, measure_from: float = 0.0) -> dict[str, Any]:
    """Counts per the module docstring, plus delivery latencies (receive time - first send time) of the
    messages first sent at or after ``measure_from`` (the warm-up's are verified but not timed)."""
    if by_room is None:
        by_room = {}
        for epoch in epochs:
            by_room.setdefault(epoch.room, []).append(epoch)
    expected = 0
    lost = 0
    lost_examples: list[str] = []
    latencies: list[float] = []
    intended_pairs: set[tuple[str, tuple[str, int]]] = set()
    for message in sent.values():
        for epoch in intended(message, by_room.get(message.room, []), run_end):
            intended_pairs.add((message.key, epoch.key))
            expected += 1
            times = [t for k, t in epoch.received if k == message.key]
            if not times:
                lost += 1
                if len(lost_examples) < 10:
                    lost_examples.append(f"{message.key} -> {epoch.key[0]}#{epoch.key[1]}")
            elif message.first_sent >= measure_from:
                latencies.append((min(times) - message.first_sent) * 1000)

    duplicated = 0
    duplicated_after_dedupe = 0
    order_violations = 0
    extra = 0
    unacked_received = 0
    wrong_message_id = 0
    for epoch in epochs:
        seen: set[str] = set()
        last_seq: dict[str, int] = {}
        duplicated_after_dedupe += sum(len(ids) - 1 for ids in epoch.message_ids.values() if len(ids) > 1)
        for key, _ in epoch.received:
            if key in seen:
                duplicated += 1
                continue
            seen.add(key)
            message = sent.get(key)
            if message is None or message.acked is None:
                unacked_received += 1
                continue
            if (key, epoch.key) not in intended_pairs:
                extra += 1
            ids = epoch.message_ids.get(key) or set()
            if len(ids) > 1 or (message.message_id and ids and message.message_id not in ids):
                wrong_message_id += 1  # stored twice under two messageIds, or the ack named another
            highest = last_seq.get(message.sender[0])
            if highest is not None and message.seq < highest and not message.continued:
                order_violations += 1  # an earlier message arrived after a later one
            if highest is None or message.seq > highest:
                last_seq[message.sender[0]] = message.seq

    acked = [m for m in sent.values() if m.acked is not None]
    ack_latencies = [(m.acked - m.first_sent) * 1000 for m in acked
                     if m.acked is not None and m.first_sent >= measure_from]
    return {
        "sent": len(sent),
        "acked": len(acked),
        "unacked": len(sent) - len(acked),
        "retried_sends": sum(1 for m in sent.values() if m.attempts > 1),
        "confirmed_after_lease": sum(1 for m in sent.values() if m.confirmations),
        "handed_off": sum(1 for m in acked if m.continued),
        "expected_deliveries": expected,
        "delivered": expected - lost,
        "lost": lost,
        "duplicated": duplicated,
        "duplicated_after_dedupe": duplicated_after_dedupe,
        "order_violations": order_violations,
        "extra_deliveries": extra,
        "unacked_received": unacked_received,
        "wrong_message_id": wrong_message_id,
        "received_total": sum(len(e.received) for e in epochs),
        "latency_ms": {"p50": _round(percentile(latencies, 50)), "p99": _round(percentile(latencies, 99)),
                       "max": _round(max(latencies) if latencies else None)},
        "ack_latency_ms": {"p50": _round(percentile(ack_latencies, 50)),
                           "p99": _round(percentile(ack_latencies, 99))},
        "lost_examples": lost_examples,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
