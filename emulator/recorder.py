"""Invocation recording: every invocation is logged (one line, emulator/invocation_log.py), passed
to the subscribers (e.g. the benchmarks' per-function counters) and, with ``record_events``, kept (the
last RECORD_LIMIT) so tests can wait for one on the stack's loop."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from emulator.invocation_log import InvocationLogger
from emulator.lambda_runtime import Invocation

RECORD_LIMIT = 10_000


class InvocationRecorder:
    def __init__(self, record: bool, logger: InvocationLogger, limit: int = RECORD_LIMIT) -> None:
        self.record = record
        self.logger = logger
        self.invocations: deque[Invocation] = deque(maxlen=limit)
        self._recorded: asyncio.Condition | None = None
        self._subscribers: list[Callable[[Invocation, str | None], None]] = []

    def subscribe(self, observer: Callable[[Invocation, str | None], None]) -> None:
        """Calls ``observer(invocation, connection_id)`` after every invocation, on the stack's loop."""
        self._subscribers.append(observer)

    def start(self) -> None:
        """Binds the recorder to the running loop (the stack's)."""
        self._recorded = asyncio.Condition()

    def observe(self, inv: Invocation, connection_id: str | None) -> None:
        self.logger(inv, connection_id)
        for observer in self._subscribers:
            observer(inv, connection_id)
        if not self.record:
            return
        self.invocations.append(inv)
        assert self._recorded is not None, "InvocationRecorder.start() runs on the stack's loop first"
        cond = self._recorded

        async def notify() -> None:
            async with cond:
                cond.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def wait_for(self, predicate: Callable[[Invocation], bool], timeout: float = 10.0) -> Invocation:
        """The first recorded invocation matching ``predicate`` (waits for it; needs ``record``)."""
        if not self.record:
            raise RuntimeError("start the stack with record_events=True")
        assert self._recorded is not None
        async with asyncio.timeout(timeout):
            async with self._recorded:
                while True:
                    for inv in self.invocations:
                        if predicate(inv):
                            return inv
                    await self._recorded.wait()
