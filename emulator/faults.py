"""Fault injection: make @connections, DynamoDB and functions fail or slow down on purpose.

Settable from CLI flags, from Python (``LocalStack(faults=Faults(...))`` or ``stack.set_faults``)
and at runtime via the local-only ``POST /_local/faults`` endpoint. See docs/local-stack.md.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: @connections statuses that can be injected, with the error code the wire format carries.
POST_ERROR_CODES = {
    410: "GoneException",
    403: "ForbiddenException",
    429: "LimitExceededException",
    500: "InternalServerErrorException",
    503: "ServiceUnavailableException",
}


@dataclass(frozen=True)
class Faults:
    # @connections POST (PostToConnection)
    post_error_rate: float = 0.0  # 0..1: share of posts answered with post_error_status
    post_error_status: int = 410  # 410 | 403 | 429 | 500 | 503
    post_latency_ms: float = 0.0  # added before every post is handled (e.g. 20 for the benchmark)
    # DynamoDB, via the throttling proxy in front of the embedded DynamoDB
    dynamodb_throttle_rate: float = 0.0  # 0..1: share answered ProvisionedThroughputExceededException
    # functions (simulated crash / slow cold start)
    lambda_error_rate: float = 0.0  # 0..1: invocation raises before the handler runs
    lambda_latency_ms: float = 0.0  # added to every invocation (counts against the timeout)
    lambda_functions: tuple[str, ...] = ()  # limit lambda_* faults to these functions (empty = all)
    seed: int | None = None  # for reproducible runs

    def __post_init__(self) -> None:
        for name in ("post_error_rate", "dynamodb_throttle_rate", "lambda_error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("post_latency_ms", "lambda_latency_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.post_error_status not in POST_ERROR_CODES:
            raise ValueError(f"post_error_status must be one of {sorted(POST_ERROR_CODES)}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lambda_functions"] = list(self.lambda_functions)
        return out

    def updated(self, changes: dict[str, Any]) -> Faults:
        """A copy with ``changes`` applied (unknown keys raise ValueError)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        coerced: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "lambda_functions":
                coerced[key] = tuple(value or ())
            elif key in ("post_error_status",):
                coerced[key] = int(value)
            elif key == "seed":
                coerced[key] = None if value is None else int(value)
            else:
                coerced[key] = float(value)
        return replace(self, **coerced)


@dataclass
class FaultInjector:
    """The live fault settings of a stack plus the random source that draws them."""

    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.set(self.faults)

    def set(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)  # noqa: S311 - fault draws, not security

    def post_error(self) -> int | None:
        f = self.faults
        if f.post_error_rate and self.rng.random() < f.post_error_rate:
            return f.post_error_status
        return None

    def dynamodb_throttled(self) -> bool:
        rate = self.faults.dynamodb_throttle_rate
        return bool(rate) and self.rng.random() < rate

    def applies_to(self, function: str) -> bool:
        names = self.faults.lambda_functions
        return not names or function in names

    def lambda_error(self, function: str) -> bool:
        rate = self.faults.lambda_error_rate
        return bool(rate) and self.applies_to(function) and self.rng.random() < rate

    def lambda_latency_s(self, function: str) -> float:
        ms = self.faults.lambda_latency_ms
        return ms / 1000.0 if ms and self.applies_to(function) else 0.0
