"""The stack's own CloudWatch metrics, written in the embedded metric format (EMF) by Powertools for AWS
Lambda's EMF provider: one JSON line per dimension set at the end of an invocation, which CloudWatch
Logs turns into metrics (no PutMetricData call, no client, no latency on the request path).

- Namespace: ``POWERTOOLS_METRICS_NAMESPACE`` (Terraform's ``metrics_namespace``, default ``wschat``; read
  by chat.config).
- Dimensions: ``FunctionName`` (the Lambda function's name, ``<name_prefix>-<function>``: unique per stack
  and stage, and the dimension AWS/Lambda's own metrics use), plus ``Kind`` or ``Reason`` on the two
  metrics that break down by one (a closed set of values). Never a user, connection or message id:
  every distinct dimension value is a new custom metric, billed monthly. A route maps to exactly one
  function in the manifest, so ``FunctionName`` already splits by route; the message id travels as a
  property of the EMF document (searchable in Logs Insights, not a dimension).
- :data:`CATALOG` is the single list of metrics: the emitters check against it, and the Terraform
  dashboard and alarms (terraform/modules/monitoring/dashboard.tf) are tested against it.

Every invocation collects its own counters (a context variable: invocations running side by side in
the local emulator never mix) and writes them once, when it ends (:func:`invocation`), also when it
fails. Counters are summed per invocation (one value each); distributions (times, hops) keep every
sample.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from chat.logs import get_logger

FUNCTION_DIMENSION = "FunctionName"

# Who emits a metric, by what the manifest says about a function (Terraform derives the same sets).
DELIVERERS = "deliverers"  # functions allowed to POST to @connections (they fan out)
SENDERS = "senders"  # deliverers that serve a route (sendMessage, broadcast): they store messages
ROUTES_WITH_TABLES = "routes with tables"  # route functions with DynamoDB permissions (can be throttled)
AUTHORIZER = "authorizer"  # the manifest's authorizer.function
FANOUT_WORKER = "fanout worker"  # the manifest's fanoutWorker.function

KINDS = ("direct", "room", "broadcast")
DENIAL_REASONS = ("missing_token", "invalid_token", "expired_token", "two_tokens", "provider_unavailable")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # a CloudWatch unit
    emitted_by: str  # one of the roles above
    meaning: str
    breakdown: str | None = None  # a second dimension, with a closed set of values
    values: tuple[str, ...] = ()
    distribution: bool = False  # samples (chart percentiles) rather than a per-invocation count


CATALOG: dict[str, Metric] = {m.name: m for m in (
    Metric("MessagesSent", "Count", SENDERS, "messages stored and fanned out (a duplicate is not counted)",
           breakdown="Kind", values=KINDS),
    Metric("DuplicateMessages", "Count", SENDERS,
           "repeated clientMessageIds: answered with the original messageId, never stored twice"),
    Metric("DeliveriesDelivered", "Count", DELIVERERS, "posts to @connections the gateway accepted"),
    Metric("DeliveriesGone", "Count", DELIVERERS, "posts answered 410 Gone: that connection was removed"),
    Metric("DeliveriesFailed", "Count", DELIVERERS,
           "posts that failed for good (403, 413, or 429/5xx/timeouts after the retries)"),
    Metric("FanoutContinuations", "Count", DELIVERERS,
           "asynchronous fan-out worker invocations started (scattered pages and time-out hand-offs)"),
    Metric("FanoutHop", "Count", FANOUT_WORKER,
           "the hop of each continuation (1: started by the first invocation); Maximum = deepest chain",
           distribution=True),
    Metric("FanoutHopLimitReached", "Count", FANOUT_WORKER, "fan-out chains stopped at FANOUT_MAX_HOPS"),
    Metric("FanoutTimeToLastDelivery", "Milliseconds", DELIVERERS,
           "from the message's sentAt to the last post of this invocation; a message's largest value is "
           "when its last recipient got it", distribution=True),
    Metric("RateLimited", "Count", SENDERS, "RATE_LIMITED answers (RATE_LIMIT_PER_MINUTE spent)"),
    Metric("Throttled", "Count", ROUTES_WITH_TABLES, "THROTTLED answers (DynamoDB throttling)"),
    Metric("AuthorizerDenials", "Count", AUTHORIZER,
           "connections the authorizer refused: missing_token (401), invalid_token, expired_token, "
           "two_tokens (403), provider_unavailable (500, oidc mode failing closed)",
           breakdown="Reason", values=DENIAL_REASONS),
)}

log = get_logger("chat.metrics")


@dataclass
class _Invocation:
    namespace: str
    function_name: str
    counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    finalizers: list[Callable[[], None]] = field(default_factory=list)


_current: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar("chat_metrics", default=None)


def _key(name: str, breakdown: dict[str, str], distribution: bool) -> tuple[str, tuple[tuple[str, str], ...]]:
    metric = CATALOG.get(name)
    if metric is None:
        raise ValueError(f"{name} is not in chat.metrics.CATALOG")
    if metric.distribution != distribution:
        raise ValueError(f"{name} is {'a distribution' if metric.distribution else 'a count'}")
    expected = {metric.breakdown} if metric.breakdown else set()
    if set(breakdown) != expected or any(v not in metric.values for v in breakdown.values()):
        raise ValueError(f"{name} takes dimension {metric.breakdown or 'none'} with a value in {metric.values}, "
                         f"got {breakdown}")
    return name, tuple(sorted(breakdown.items()))


def count(name: str, value: float = 1, **breakdown: str) -> None:
    """Adds ``value`` to this invocation's ``name`` counter (outside an invocation: nothing)."""
    key = _key(name, breakdown, distribution=False)
    inv = _current.get()
    if inv is not None:
        inv.counts[key] = inv.counts.get(key, 0) + value


def sample(name: str, value: float, **breakdown: str) -> None:
    """Records one sample of the distribution ``name`` (a time, a hop)."""
    key = _key(name, breakdown, distribution=True)
    inv = _current.get()
    if inv is not None:
        inv.samples.setdefault(key, []).append(float(value))


def set_property(key: str, value: Any) -> None:
    """A property of this invocation's EMF documents (high cardinality: never a dimension)."""
    inv = _current.get()
    if inv is not None and value is not None:
        inv.properties[key] = value


def on_flush(record: Callable[[], None]) -> None:
    """Calls ``record`` when the invocation ends, before its metrics are written (final counts)."""
    inv = _current.get()
    if inv is not None:
        inv.finalizers.append(record)


@contextmanager
def invocation(function_name: str | None, namespace: str) -> Iterator[None]:
    """Collects the metrics of one invocation and writes them when it ends, however it ends."""
    token = _current.set(_Invocation(namespace, function_name or "unknown"))
    try:
        yield
    finally:
        inv = _current.get()
        _current.reset(token)
        if inv is not None:
            _flush(inv)


def _flush(inv: _Invocation) -> None:
    token = _current.set(inv)  # the finalizers count into this invocation
    try:
        for record in inv.finalizers:
            record()
    except Exception:  # a metric must never fail the invocation that it describes
        log.exception("could not collect the invocation's metrics")
    finally:
        _current.reset(token)
    groups: dict[tuple[tuple[str, str], ...], AmazonCloudWatchEMFProvider] = {}

    def provider(dims: tuple[tuple[str, str], ...]) -> AmazonCloudWatchEMFProvider:
        if dims not in groups:
            # service="" keeps Powertools' own `service` dimension (POWERTOOLS_SERVICE_NAME) out
            emf = AmazonCloudWatchEMFProvider(namespace=inv.namespace, service="")
            emf.add_dimension(FUNCTION_DIMENSION, inv.function_name)
            for name, value in dims:
                emf.add_dimension(name, value)
            for key, value in inv.properties.items():
                emf.add_metadata(key, value)
            groups[dims] = emf
        return groups[dims]

    try:
        for (name, dims), value in sorted(inv.counts.items()):
            provider(dims).add_metric(name=name, unit=CATALOG[name].unit, value=value)
        for (name, dims), values in sorted(inv.samples.items()):
            for value in values:
                provider(dims).add_metric(name=name, unit=CATALOG[name].unit, value=value)
        for emf in groups.values():
            emf.flush_metrics()
    except Exception:  # a metric must never fail the invocation that it describes
        log.exception("could not write the invocation's metrics")
