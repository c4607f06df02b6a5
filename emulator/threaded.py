"""ThreadedLocalStack: a LocalStack on a background thread with its own event loop, for synchronous
callers (tests, scripts)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from emulator import loops
from emulator.config import StackConfig
from emulator.lambda_runtime import Invocation
from emulator.stack import LocalStack


class ThreadedLocalStack:
    """A LocalStack on a background thread with its own event loop, for synchronous code.

        with ThreadedLocalStack(StackConfig(port=0)) as stack:
            boto3.client("apigatewaymanagementapi", endpoint_url=stack.management_url)
    """

    def __init__(self, config: StackConfig | None = None, **overrides: Any) -> None:
        self.stack = LocalStack(config, **overrides)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stack, name)

    def start(self, timeout: float = 120.0) -> ThreadedLocalStack:
        self._thread = threading.Thread(target=self._run, name="local-stack", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("local stack did not start in time")
        if self._error is not None:
            raise RuntimeError(f"local stack failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = loops.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.stack.start()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.stack.stop()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the stack's loop (e.g. stack.wait_for_invocation(...))."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def on_stack_loop(self, coro: Any) -> Any:
        """Await a coroutine that must run on the stack's loop, from another event loop."""
        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def wait_for_invocation(self, predicate: Callable[[Invocation], bool], timeout: float = 10.0) -> Invocation:
        return await self.on_stack_loop(self.stack.wait_for_invocation(predicate, timeout))

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(60)

    def __enter__(self) -> ThreadedLocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

