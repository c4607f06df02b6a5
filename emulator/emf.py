"""The functions' metrics on the local stack, counted as CloudWatch counts them.

On AWS, Lambda sends what a function prints to CloudWatch Logs, and CloudWatch turns every line that is
an embedded metric format (EMF) document into metric data. Locally:

- function side (:func:`capture`, installed by emulator/handlers.py in whichever process runs the
  handlers): a tee over ``sys.stdout`` passes everything through unchanged and sends each printed line
  that holds ``"_aws"`` to the stack over a Unix datagram socket (reliable on one host: a sender waits
  while the reader is behind, nothing is dropped). The socket's path travels in
  :data:`SOCKET_VARIABLE` for handlers in the stack's own process, and in the sandbox's spec
  (:func:`direct_to`) for sandboxes, whose environment is exactly their function's.
- stack side (:class:`LocalMetrics`): reads the datagrams on the stack's loop, validates each document
  against the format's schema (emulator/emf_schema.json) and the references the schema cannot express,
  and aggregates per metric (namespace, name, dimensions) the statistics CloudWatch keeps: sum, sample
  count, minimum, maximum, percentiles, and sums per minute. A document CloudWatch would reject is
  counted under ``rejected`` (AWS/Logs' EMFValidationErrors on AWS) with its reason, and not used.

Served by emulator/local_api.py: ``GET /_local/metrics.json`` (this snapshot), ``DELETE
/_local/metrics.json`` (start counting afresh), the page ``/_local/metrics`` and the panel of the demo page.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SOCKET_VARIABLE = "WSCHAT_LOCAL_METRICS_SOCKET"
SCHEMA_PATH = Path(__file__).with_name("emf_schema.json")
MAX_VALUES = 100  # values per metric member (EMF spec)
MAX_SAMPLES = 10_000  # kept per metric for percentiles
MINUTES_KEPT = 60
MAX_DATAGRAM = 1 << 20


class InvalidDocument(ValueError):
    """A document CloudWatch would not turn into metrics."""


# --- what CloudWatch extracts ------------------------------------------------------------------------

@dataclass(frozen=True)
class Datum:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    values: tuple[float, ...]
    timestamp_ms: int


@cache
def _validator() -> Any:
    import jsonschema  # dev/local-stack dependency (requirements/dev.txt), imported on first document

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


#: The ``CloudWatchMetrics`` arrays the schema accepted (as canonical JSON), most recent last. The schema
#: constrains nothing but ``_aws``'s type, its ``Timestamp`` and its ``CloudWatchMetrics``; the directives
#: are the same in every document a code path prints (only the values and the timestamp change), so a
#: document whose directives were accepted before and whose timestamp is a plain non-negative int is
#: valid without running jsonschema again (~0.2-0.4 ms a document, on the gateway's loop, for every
#: invocation). Anything else is validated in full.
_ACCEPTED_DIRECTIVES: dict[str, None] = {}
ACCEPTED_DIRECTIVES_MAX = 1024


def validate(document: Any) -> None:
    """Raises InvalidDocument when the EMF schema rejects ``document`` (what CloudWatch rejects)."""
    meta = document.get("_aws") if isinstance(document, dict) else None
    key = None
    if isinstance(meta, dict):
        timestamp = meta.get("Timestamp")
        if type(timestamp) is int and timestamp >= 0:
            key = json.dumps(meta.get("CloudWatchMetrics"), sort_keys=True)
            if key in _ACCEPTED_DIRECTIVES:
                return
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise InvalidDocument(f"{where}: {errors[0].message}")
    if key is not None:
        if len(_ACCEPTED_DIRECTIVES) >= ACCEPTED_DIRECTIVES_MAX:
            del _ACCEPTED_DIRECTIVES[next(iter(_ACCEPTED_DIRECTIVES))]
        _ACCEPTED_DIRECTIVES[key] = None


def extract(document: Any) -> list[Datum]:
    """The metric data CloudWatch takes from one EMF document; raises InvalidDocument as it rejects one."""
    validate(document)
    meta = document["_aws"]
    data: list[Datum] = []
    for directive in meta["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            dims = []
            for key in dimension_set:
                value = document.get(key)
                if not isinstance(value, str) or not value:
                    raise InvalidDocument(f"dimension {key!r} must be a non-empty string member of the root")
                dims.append((key, value))
            for metric in directive["Metrics"]:
                data.append(Datum(directive["Namespace"], metric["Name"], tuple(dims), metric.get("Unit", "None"),
                                  _values(document, metric["Name"]), meta["Timestamp"]))
    return data


def _values(document: dict[str, Any], name: str) -> tuple[float, ...]:
    raw = document.get(name)
    values = raw if isinstance(raw, list) else [raw]
    if not values or len(values) > MAX_VALUES:
        raise InvalidDocument(f"metric {name!r} must have 1 to {MAX_VALUES} values")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise InvalidDocument(f"metric {name!r} must be a number or an array of numbers at the root")
    return tuple(float(v) for v in values)


# --- the stack's side ----------------------------------------------------------------------------------

@dataclass
class Series:
    """One metric (namespace, name, dimensions) and the statistics CloudWatch keeps for it."""

    namespace: str
    name: str
    dimensions: dict[str, str]
    unit: str
    sum: float = 0.0
    sample_count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    per_minute: dict[int, float] = field(default_factory=dict)  # minute (epoch s) -> sum

    def add(self, datum: Datum) -> None:
        minute = datum.timestamp_ms // 60_000 * 60
        for value in datum.values:
            self.sum += value
            self.sample_count += 1
            self.minimum = min(self.minimum, value)
            self.maximum = max(self.maximum, value)
            self.samples.append(value)
            self.per_minute[minute] = self.per_minute.get(minute, 0.0) + value
        while len(self.per_minute) > MINUTES_KEPT:
            del self.per_minute[min(self.per_minute)]

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile of the kept samples."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def as_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "dimensions": self.dimensions, "unit": self.unit,
                "sum": self.sum, "sampleCount": self.sample_count, "minimum": self.minimum,
                "maximum": self.maximum, "average": self.sum / self.sample_count,
                "p50": self.percentile(50), "p99": self.percentile(99),
                "perMinute": [[minute, total] for minute, total in sorted(self.per_minute.items())]}


class LocalMetrics:
    """The metrics the functions printed since the stack started (or since :meth:`reset`)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, tuple[tuple[str, str], ...]], Series] = {}
        self.documents = 0
        self.rejected = 0
        self.last_rejection: str | None = None
        self.since = time.time()
        self._changed: asyncio.Condition | None = None
        self._sock: socket.socket | None = None
        self._dir: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.socket_path = ""

    # lifecycle (on the stack's loop)
    def open(self) -> str:
        """Binds the socket the functions send to and reads it on the running loop; returns its path."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        self._dir = tempfile.mkdtemp(prefix="wschat-metrics-")
        self.socket_path = os.path.join(self._dir, "emf.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.socket_path)
        sock.setblocking(False)
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._readable)
        return self.socket_path

    def close(self) -> None:
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._dir is not None:
            try:
                os.unlink(self.socket_path)
                os.rmdir(self._dir)
            except OSError:
                pass
            self._dir = None

    def _readable(self) -> None:
        assert self._sock is not None
        got = False
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            self.ingest(data.decode("utf-8", "replace"))
            got = True
        if got and self._changed is not None:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # counting
    def ingest(self, line: str) -> None:
        """One printed line, as CloudWatch Logs sees a log event."""
        try:
            document = json.loads(line)
            if not isinstance(document, dict) or "_aws" not in document:
                return  # an ordinary log line
            data = extract(document)
        except (ValueError, InvalidDocument) as exc:
            self.rejected += 1
            self.last_rejection = str(exc)[:500]
            return
        self.documents += 1
        for datum in data:
            key = (datum.namespace, datum.name, datum.dimensions)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(datum.namespace, datum.name, dict(datum.dimensions), datum.unit)
            series.add(datum)

    def reset(self) -> None:
        self._series.clear()
        self.documents = self.rejected = 0
        self.last_rejection = None
        self.since = time.time()

    # reading
    def series(self) -> Iterator[Series]:
        return iter(sorted(self._series.values(), key=lambda s: (s.namespace, s.name, sorted(s.dimensions.items()))))

    def total(self, name: str, **dimensions: str) -> float:
        """Sum of ``name`` over every series whose dimensions include ``dimensions``."""
        return sum(s.sum for s in self._series.values()
                   if s.name == name and all(s.dimensions.get(k) == v for k, v in dimensions.items()))

    def snapshot(self) -> dict[str, Any]:
        totals: dict[str, float] = {}
        for s in self._series.values():
            totals[s.name] = totals.get(s.name, 0.0) + s.sum
        return {"since": self.since, "documents": self.documents, "rejected": self.rejected,
                "lastRejection": self.last_rejection, "totals": dict(sorted(totals.items())),
                "metrics": [s.as_json() for s in self.series()]}

    async def wait_for(self, predicate: Callable[[LocalMetrics], bool], timeout: float = 10.0) -> None:
        """Returns once ``predicate(self)`` holds (checked after every batch of documents)."""
        assert self._changed is not None, "open() the metrics on the stack's loop first"
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))


# --- the functions' side -------------------------------------------------------------------------------

class _Tee:
    """``sys.stdout`` as before, plus every complete line holding an EMF document sent to ``send``."""

    def __init__(self, stream: Any, send: Callable[[str], None]) -> None:
        self._stream = stream
        self._send = send
        self._local = threading.local()  # one partial line per thread (print writes text, then "\n")

    @property
    def wrapped(self) -> Any:
        return self._stream

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if text:
            lines = (getattr(self._local, "partial", "") + text).split("\n")
            partial = lines.pop()
            self._local.partial = partial if partial.startswith("{") else ""
            for line in lines:
                if line.startswith("{") and '"_aws"' in line:
                    self._send(line)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Sender:
    def __init__(self, path: str) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def __call__(self, line: str) -> None:
        try:
            self._sock.sendto(line.encode("utf-8"), self.path)
        except OSError:
            pass  # the stack is stopping: the line was printed all the same


_sender: _Sender | None = None
_directed = ""  # a sandbox's socket, given apart from the function's environment (direct_to)


def direct_to(path: str) -> None:
    """A sandbox sends its EMF lines to ``path`` (its environment is the function's alone, see
    emulator/function_worker.py): takes precedence over :data:`SOCKET_VARIABLE`."""
    global _directed
    _directed = path


def capture() -> None:
    """Tees ``sys.stdout`` to the stack named by :data:`SOCKET_VARIABLE` (idempotent; called before every
    handler call, since a test's output capture may have replaced ``sys.stdout`` meanwhile)."""
    global _sender
    path = _directed or os.environ.get(SOCKET_VARIABLE)
    if not path:
        return
    if _sender is None or _sender.path != path:
        _sender = _Sender(path)
    if not isinstance(sys.stdout, _Tee):
        sys.stdout = _Tee(sys.stdout, _sender)
    elif sys.stdout._send is not _sender:  # a previous stack's tee
        sys.stdout = _Tee(sys.stdout.wrapped, _sender)


def release() -> None:
    """Takes the tee off ``sys.stdout`` (the stack stopped)."""
    global _sender
    if isinstance(sys.stdout, _Tee):
        sys.stdout = sys.stdout.wrapped
    _sender = None
