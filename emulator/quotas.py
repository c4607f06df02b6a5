"""Token buckets for the stage throttle (rate/burst) and the new-connections-per-second quota."""

from __future__ import annotations

import time


class TokenBucket:
    """Classic token bucket; ``rate`` tokens/s refill up to ``burst``. Not thread-safe: the gateway
    calls it from the event loop only."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be > 0")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        tokens = self._tokens + (now - self._stamp) * self.rate
        self._stamp = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False
