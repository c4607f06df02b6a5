"""Fan-out: deliver one frame to an audience through @connections.

- The audience is a list of *segments* (a user's connections, a room's members, or one shard of
  the byShard index), each read with paginated Queries: DynamoDB items read == recipients.
- Posts run with bounded concurrency (FANOUT_CONCURRENCY threads sharing one pooled client).
- A 410 GoneException removes *that* connection id from the registry (never the sender's).
- Throttling (429/LimitExceeded) and transient failures (5xx, timeouts) are retried with full
  jitter exponential backoff; 403/413 are not retried.
- No silent tail loss: before each chunk the remaining Lambda time is checked; when it falls
  under FANOUT_TIME_MARGIN_MS the untried remainder (pending ids + the Query cursor + the
  segments left) is handed to FANOUT_FUNCTION_NAME with an asynchronous Invoke, which continues
  the same way. Nobody is posted twice by a hand-off: only ids never attempted are handed on.
- Scatter (FANOUT_SCATTER=1, the default, used by sendMessage/broadcast): when the audience spans
  several Query pages, the invoking function keeps the first page and hands every further page,
  as soon as it is read, to its own asynchronous continuation: a 10-page audience is delivered by
  10 invocations in parallel instead of one after the other. Pages are disjoint, so nobody gets
  the frame twice; each continuation checkpoints like any other.
- Hop cap: every hand-off is one hop further down its chain; a hand-off beyond FANOUT_MAX_HOPS
  raises FanoutHopLimit instead ("fan-out hop limit reached" in the log, and the metric
  FanoutHopLimitReached),
  so a runaway self-invoking chain stops; the failed invocation's event (the unfinished job) goes to
  the function's on-failure destination, where it can be inspected and replayed. Lambda's own
  recursive-loop detection would stop a Lambda->Lambda chain after about 16 invocations and drop
  the event; Terraform sets the continuation worker's recursion config to Allow and relies on this
  cap instead.
- The continuation worker checkpoints after every chunk (chat.checkpoints), so when Lambda retries
  a crashed asynchronous invocation it resumes after the last finished chunk: nobody is lost, and
  only the posts of the one chunk in flight at the crash can be repeated (same messageId, which
  clients use to drop the repeat).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from chat import observe, registry
from chat.clients import lambda_client
from chat.config import Settings
from chat.errors import (
    ConfigurationError,
    ConnectionGone,
    DeliveryFailed,
    FanoutHopLimit,
    PayloadTooLarge,
    Throttled,
)
from chat.logs import carry_context, get_logger, log_event
from chat.management import Connections

log = get_logger("chat.fanout")
JOB_TYPE = "chat.fanout.continue"
RemainingMs = Callable[[], int]

DELIVERED, GONE, FAILED = "delivered", "gone", "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a throttled or failed (5xx, no answer) post: exponential backoff with "equal jitter"
    (half of each step fixed, half random), so the retries of one post always span at least
    ``min_span_ms()`` (1.775 s by default) and ride out a short @connections outage, as
    `make load`'s chaos (500/503 for 1 s) checks; full jitter could retry 5 times within ~50 ms."""

    attempts: int = 8
    base_ms: int = 50
    cap_ms: int = 1000
    sleep: Callable[[float], None] = time.sleep

    def step_ms(self, attempt: int) -> int:
        return min(self.cap_ms, self.base_ms * 2**attempt)

    def min_span_ms(self) -> float:
        return sum(self.step_ms(a) / 2 for a in range(self.attempts - 1))

    def backoff(self, attempt: int) -> None:
        step = self.step_ms(attempt)
        self.sleep((step / 2 + random.uniform(0, step / 2)) / 1000)


@dataclass
class Segment:
    kind: str  # "user" | "room" | "shard"
    key: str | int

    def page(self, cursor: registry.Cursor, page_size: int) -> registry.Page:
        if self.kind == "user":
            return registry.user_page(str(self.key), cursor, page_size)
        if self.kind == "room":
            return registry.room_page(str(self.key), cursor, page_size)
        if self.kind == "shard":
            return registry.shard_page(int(self.key), cursor, page_size)
        raise ValueError(f"unknown segment kind {self.kind!r}")


@dataclass
class FanoutJob:
    """Everything needed to (continue to) deliver one frame; JSON-serialisable for hand-off."""

    frame: dict[str, Any]
    segments: list[Segment]
    endpoint: str
    exclude: list[str] = field(default_factory=list)
    cursor: registry.Cursor = None  # Query position inside segments[0]
    pending: list[str] = field(default_factory=list)  # ids read but never attempted
    hops: int = 0
    job_id: str = ""  # set when handed off; keys the continuation's checkpoint

    def to_event(self) -> dict[str, Any]:
        return {"type": JOB_TYPE, **asdict(self)}

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> FanoutJob:
        if event.get("type") != JOB_TYPE:
            raise ValueError(f"not a fan-out continuation event (type={event.get('type')!r})")
        return cls(
            frame=event["frame"],
            segments=[Segment(**s) for s in event["segments"]],
            endpoint=event["endpoint"],
            exclude=list(event.get("exclude") or []),
            cursor=event.get("cursor"),
            pending=list(event.get("pending") or []),
            hops=int(event.get("hops") or 0),
            job_id=str(event.get("job_id") or ""),
        )


@dataclass
class DeliveryReport:
    delivered: int = 0
    gone: int = 0
    failed: int = 0
    items_read: int = 0
    continued: bool = False
    scattered: int = 0  # pages handed to parallel continuations
    handed_off: bool = False  # the rest handed to a continuation when time ran short
    last_delivered_ms: int | None = None  # epoch ms of the last accepted post

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome == DELIVERED:
            self.last_delivered_ms = int(time.time() * 1000)

    @property
    def continuations(self) -> int:
        """Continuation invocations this one started."""
        return self.scattered + self.handed_off

    def as_frame(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "gone": self.gone, "failed": self.failed,
                "continued": self.continued}


def encode(frame: dict[str, Any]) -> bytes:
    data = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(data) > 128 * 1024:
        raise PayloadTooLarge(f"the frame is {len(data)} bytes; @connections accepts at most 131072")
    return data


def post_with_retry(connections: Connections, connection_id: str, data: bytes, policy: RetryPolicy) -> str:
    for attempt in range(policy.attempts):
        try:
            connections.post(connection_id, data)
            return DELIVERED
        except ConnectionGone:
            registry.forget_gone(connection_id)
            return GONE
        except Throttled:
            pass
        except DeliveryFailed as e:
            if not e.retryable:
                log_event(log, 30, "delivery failed", target_connection_id=connection_id, error=str(e))
                return FAILED
        except PayloadTooLarge:
            return FAILED
        if attempt + 1 < policy.attempts:
            policy.backoff(attempt)
    log_event(log, 30, "delivery failed after retries", target_connection_id=connection_id,
              attempts=policy.attempts)
    return FAILED


def run(job: FanoutJob, settings: Settings, remaining_ms: RemainingMs | None = None, *,
        connections: Connections | None = None, policy: RetryPolicy | None = None,
        hand_off: Callable[[FanoutJob, Settings], None] | None = None,
        progress: Callable[[FanoutJob], None] | None = None, scatter: bool = False) -> DeliveryReport:
    """Delivers ``job.frame`` to every live connection of the job's segments (see module doc).

    ``progress`` is called after every finished chunk with the work still to do. With ``scatter``
    every Query page after the first goes to a parallel continuation as soon as it is read.
    """
    connections = connections or Connections(job.endpoint, settings.require_region(),
                                             max_pool=settings.fanout_concurrency)
    policy = policy or RetryPolicy()
    hand_off = hand_off or continue_later
    data = encode(job.frame)
    exclude = set(job.exclude)
    chunk = settings.fanout_concurrency * 4
    report = DeliveryReport()
    observe.delivery(report, job.frame)
    segments = list(job.segments)
    cursor, pending = job.cursor, list(job.pending)

    def out_of_time() -> bool:
        return remaining_ms is not None and remaining_ms() < settings.fanout_time_margin_ms

    post = carry_context(lambda cid: post_with_retry(connections, cid, data, policy))  # the log keys too

    def deliver(pool: ThreadPoolExecutor, ids: list[str]) -> None:
        for outcome in pool.map(post, ids):
            report.add(outcome)

    if scatter:
        size, spill = settings.fanout_page_size, []
        while segments and not out_of_time():
            page = segments[0].page(cursor, size)
            report.items_read += page.items_read
            cursor = page.cursor
            if cursor is None:
                segments.pop(0)
            ids = [cid for cid in page.connection_ids if cid not in exclude]
            room = max(0, size - len(pending))
            pending += ids[:room]  # up to one page is delivered here
            spill += ids[room:]
            while len(spill) >= size:  # every further full page goes to a parallel continuation
                part, spill = spill[:size], spill[size:]
                hand_off(_continuation(job, [], None, part, settings), settings)
                report.continued = True
                report.scattered += 1
        pending += spill  # less than a page left over: not worth an invocation
        # out of time while reading: the loop below hands the rest on before delivering anything

    with ThreadPoolExecutor(max_workers=settings.fanout_concurrency, thread_name_prefix="fanout") as pool:
        while True:
            while pending:
                if out_of_time():
                    return _handed_off(job, segments, cursor, pending, report, settings, hand_off)
                batch, pending = pending[:chunk], pending[chunk:]
                deliver(pool, batch)
                if progress is not None:
                    progress(_rest(job, segments, cursor, pending))
            if not segments:
                return report
            if out_of_time():
                return _handed_off(job, segments, cursor, pending, report, settings, hand_off)
            page = segments[0].page(cursor, settings.fanout_page_size)
            report.items_read += page.items_read
            pending = [cid for cid in page.connection_ids if cid not in exclude]
            cursor = page.cursor
            if cursor is None:
                segments.pop(0)


def _handed_off(job: FanoutJob, segments: list[Segment], cursor: registry.Cursor, pending: list[str],
                report: DeliveryReport, settings: Settings,
                hand_off: Callable[[FanoutJob, Settings], None]) -> DeliveryReport:
    rest = _continuation(job, segments, cursor, pending, settings)
    hand_off(rest, settings)
    report.continued = report.handed_off = True
    log_event(log, 20, "fan-out handed off", pending=len(pending), segments_left=len(segments),
              hops=rest.hops, delivered=report.delivered)
    return report


def _rest(job: FanoutJob, segments: list[Segment], cursor: registry.Cursor, pending: list[str]) -> FanoutJob:
    return FanoutJob(frame=job.frame, segments=list(segments), endpoint=job.endpoint, exclude=job.exclude,
                     cursor=cursor, pending=list(pending), hops=job.hops, job_id=job.job_id)


def _continuation(job: FanoutJob, segments: list[Segment], cursor: registry.Cursor,
                  pending: list[str], settings: Settings) -> FanoutJob:
    """The part of ``job`` that another invocation will do: one hop further, with its own checkpoint
    id; FanoutHopLimit when that hop would exceed FANOUT_MAX_HOPS."""
    if job.hops + 1 > settings.fanout_max_hops:
        log_event(log, 40, "fan-out hop limit reached", hops=job.hops, max_hops=settings.fanout_max_hops,
                  message_id=job.frame.get("messageId"), pending=len(pending), segments_left=len(segments),
                  job_id=job.job_id)
        observe.hop_limit_reached()
        raise FanoutHopLimit(f"fan-out {job.job_id or '(first invocation)'} would take hop {job.hops + 1}, "
                             f"over FANOUT_MAX_HOPS={settings.fanout_max_hops}")
    rest = _rest(job, segments, cursor, pending)
    rest.hops, rest.job_id = job.hops + 1, uuid.uuid4().hex
    return rest


def continue_later(job: FanoutJob, settings: Settings) -> None:
    """Asynchronous Invoke of the continuation function (Lambda retries async failures twice)."""
    if not settings.fanout_function_name:
        raise ConfigurationError("FANOUT_FUNCTION_NAME is not set: cannot continue an unfinished fan-out")
    payload = json.dumps(job.to_event(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    lambda_client(settings.require_region()).invoke(
        FunctionName=settings.fanout_function_name, InvocationType="Event", Payload=payload)
