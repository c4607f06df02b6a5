"""Counts the stack's Lambda invocations per function, with their billed durations (for the
benchmarks' cost figures; not shipped).

Lambda bills each invocation's duration rounded up to the next millisecond. The duration here is the
emulator's: from the moment the invocation got a handler thread (its timeout starts there too) to its
result, measured on the gateway's side, so it includes the channel to the function worker (a fraction
of a millisecond) and anything injected before the handler (``lambda_latency_ms``).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from typing import Any

from emulator.lambda_runtime import Invocation


class InvocationCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[str, int] = defaultdict(int)
        self._billed_ms: dict[str, int] = defaultdict(int)
        self._failed: dict[str, int] = defaultdict(int)

    def observe(self, inv: Invocation, connection_id: str | None) -> None:
        """An InvocationRecorder subscriber: called on the stack's loop after every invocation."""
        with self._lock:
            self._count[inv.function] += 1
            self._billed_ms[inv.function] += max(1, math.ceil(inv.duration_ms))
            if inv.outcome != "ok":
                self._failed[inv.function] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {fn: {"invocations": n, "billed_ms": self._billed_ms[fn], "failed": self._failed[fn]}
                    for fn, n in self._count.items()}
