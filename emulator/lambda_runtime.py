"""Runs the functions of the manifest the way Lambda would, behind one interface with two runtimes:

- :class:`WorkerRuntime` (``make run``, ``StackConfig(function_workers=N)``): every function in
  sandboxes of its own (emulator/sandboxes.py): worker processes apart from the gateway and from each
  other, each with exactly its function's environment; a timed-out invocation's sandbox is recycled,
  so the handler stops.
- :class:`ThreadRuntime` (``StackConfig(function_workers=0)``, the tests' default): the handlers in a
  thread pool of the gateway's own process (never on its event loop), sharing one environment (the
  union of the functions'); a timed-out handler cannot be stopped there: it finishes in the
  background and its result is dropped.

Both are loaded by emulator/handlers.py. What an invocation means (timeouts, injected faults, how a
failure is reported) is defined once, in :meth:`LambdaRuntime.invoke`, on the gateway's side. As on
Lambda, a sandbox's start (init) is not counted in the function's timeout, only in the gateway's.

An invocation first takes one of the runtime's ``capacity`` slots (one per handler thread: of the
whole pool in the thread runtime, of the function's sandboxes in the worker runtime), and its
function timeout starts only then, as Lambda's starts when the handler does: on AWS every concurrent
invocation gets a sandbox of its own, so a burst larger than the emulator's threads waits here as it
would wait for new sandboxes, and never times out a handler that has not started. A route's
integration timeout (29 s) still covers the wait: a message that waits that long gets the gateway's
timeout answer, as on AWS.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.faults import FaultInjector
from emulator.function_worker import HandlerError, WorkerSpec
from emulator.handlers import FunctionSet, function_arn, handler_path
from emulator.ids import new_request_id
from emulator.sandboxes import SandboxPool
from manifest import Function, Manifest

log = logging.getLogger("emulator")


@dataclass(slots=True)
class Invocation:
    """What happened in one invocation (kept for tests when the stack records events)."""

    function: str
    event: dict[str, Any]
    request_id: str
    outcome: str = "pending"  # ok | error | timeout
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0
    route: str | None = None
    status: int | None = None  # the gateway's view: HTTP-like status of the route integration
    extra: dict[str, Any] = field(default_factory=dict)


class LambdaRuntime:
    """The interface the gateway and the Lambda API use; a subclass decides where handlers run."""

    def __init__(self, manifest: Manifest, functions_dir: Path, *, region: str, account_id: str,
                 faults: FaultInjector, capacity: int) -> None:
        self.manifest = manifest
        self.functions_dir = functions_dir
        self.region = region
        self.account_id = account_id
        self.faults = faults
        self.capacity = capacity  # handler threads per slot key: invocations of it that can run at once
        self._slots: dict[str, asyncio.Semaphore] = {}  # created on the loop of the first invocation
        self._loaded: frozenset[str] = frozenset()
        self._load_errors: dict[str, str] = {}

    # --- what a runtime provides -----------------------------------------------------------
    def load_all(self) -> None:
        """Loads every function (blocking: call it off the event loop)."""
        raise NotImplementedError

    def _start(self, loop: asyncio.AbstractEventLoop, name: str, event: dict[str, Any], request_id: str,
               deadline: float) -> asyncio.Future[Any]:
        """Starts one handler call; the future holds its result or raises its error."""
        raise NotImplementedError

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the runtime to the gateway's loop (after ``load_all``, before the first invocation)."""

    def _slot_key(self, name: str) -> str:
        """Which handler threads ``name`` runs on: the same key shares ``capacity`` slots."""
        return ""

    def _ready(self, name: str) -> bool:
        """True when ``name`` can take an invocation now (else await ``_started``)."""
        return True

    def _started(self, name: str) -> asyncio.Future[None]:
        raise NotImplementedError

    def _abandon(self, future: asyncio.Future[Any]) -> None:
        """The invocation of ``future`` timed out (its result, if any, is dropped)."""

    def worker_pids(self, function: str | None = None) -> list[int]:
        return []

    async def serving(self, name: str) -> None:
        """Returns once ``name`` takes invocations without waiting for a sandbox to start (on the
        gateway's loop): e.g. after a recycle, when its replacement is ready."""
        if not self._ready(name):
            await asyncio.shield(self._started(name))

    def shutdown(self) -> None:
        """Stops the runtime; what has not started is dropped."""

    # --- shared ----------------------------------------------------------------------------
    def loaded_names(self) -> list[str]:
        return sorted(self._loaded)

    def load_errors(self) -> dict[str, str]:
        return dict(self._load_errors)

    def loaded_files(self) -> dict[str, Path]:
        return {name: handler_path(self.functions_dir, self.manifest.functions[name]) for name in self._loaded}

    def function_arn(self, name: str) -> str:
        return function_arn(self.region, self.account_id, name)

    @staticmethod
    def new_request_id() -> str:
        return new_request_id()

    async def invoke(self, name: str, event: dict[str, Any], *, gateway_timeout_s: float | None = None,
                     request_id: str | None = None) -> Invocation:
        """Run ``name`` with ``event``; never raises for handler failures (see ``outcome``).

        Hot path: one free slot, one hand-off to the runtime and one timer per invocation (no
        wait_for task). ``gateway_timeout_s`` bounds the wait for a slot plus the run.
        """
        fn = self.manifest.functions[name]
        inv = Invocation(function=name, event=event, request_id=request_id or new_request_id())
        key = self._slot_key(name)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self.capacity)
        received = time.monotonic()
        if slots.locked():  # every handler thread is busy: wait as for a new sandbox
            try:
                async with asyncio.timeout(gateway_timeout_s):
                    await slots.acquire()
            except TimeoutError:
                return self._timed_out(inv, gateway_timeout_s or 0.0, received)
        else:
            await slots.acquire()
        try:
            waited = time.monotonic() - received
            gateway_left = None if gateway_timeout_s is None else gateway_timeout_s - waited
            return await self._run(fn, inv, event, gateway_left)
        finally:
            slots.release()

    async def _run(self, fn: Function, inv: Invocation, event: dict[str, Any],
                   gateway_timeout_s: float | None) -> Invocation:
        name = fn.name
        timeout = fn.timeout if gateway_timeout_s is None else min(fn.timeout, gateway_timeout_s)
        started = time.monotonic()
        latency = self.faults.lambda_latency_s(name)
        if latency:
            await asyncio.sleep(min(latency, timeout))
            if latency >= timeout:
                return self._timed_out(inv, timeout, started)
        if name not in self._loaded:
            inv.outcome, inv.error = "error", f"Runtime.ImportModuleError: {self._load_errors.get(name)}"
        elif self.faults.lambda_error(name):
            inv.outcome, inv.error = "error", "InjectedFault: lambda_error_rate"
            inv.extra["errorType"], inv.extra["errorMessage"] = "InjectedFault", "lambda_error_rate"
        else:
            loop = asyncio.get_running_loop()
            begin = started
            if not self._ready(name):  # a sandbox is starting (init): the gateway's clock runs, not the function's
                try:
                    await asyncio.wait_for(asyncio.shield(self._started(name)), timeout - (time.monotonic() - started))
                except TimeoutError:
                    return self._timed_out(inv, timeout, started)
                except HandlerError as exc:
                    return self._failed(inv, exc, started)
                begin = time.monotonic()
                if gateway_timeout_s is not None:
                    timeout = min(fn.timeout, gateway_timeout_s - (begin - started))
            future = self._start(loop, name, event, inv.request_id, begin + fn.timeout)
            expired: list[bool] = []
            timer = loop.call_at(loop.time() + timeout - (time.monotonic() - begin), _expire, future, expired)
            try:
                inv.result = await future
                inv.outcome = "ok"
            except asyncio.CancelledError:
                if not expired:
                    raise  # the caller was cancelled (shutdown), not a timeout
                self._abandon(future)
                return self._timed_out(inv, timeout, started)
            except Exception as exc:  # noqa: BLE001 - a crashing handler is an invocation error, not ours
                _describe(inv, exc)
            finally:
                timer.cancel()
        inv.duration_ms = (time.monotonic() - started) * 1000.0
        return inv

    @staticmethod
    def _failed(inv: Invocation, exc: Exception, started: float) -> Invocation:
        _describe(inv, exc)
        inv.duration_ms = (time.monotonic() - started) * 1000.0
        return inv

    @staticmethod
    def _timed_out(inv: Invocation, timeout: float, started: float) -> Invocation:
        inv.outcome = "timeout"
        inv.error = f"Task timed out after {timeout:.2f} seconds"
        inv.duration_ms = (time.monotonic() - started) * 1000.0
        return inv


class ThreadRuntime(LambdaRuntime):
    """Handlers on ``concurrency`` threads of this process."""

    def __init__(self, manifest: Manifest, functions_dir: Path, shared_dir: Path, *, region: str, account_id: str,
                 concurrency: int, faults: FaultInjector) -> None:
        super().__init__(manifest, functions_dir, region=region, account_id=account_id, faults=faults,
                         capacity=concurrency)
        self._functions = FunctionSet(manifest, functions_dir, shared_dir, region=region, account_id=account_id)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lambda")

    def load_all(self) -> None:
        self._functions.load_all()
        self._loaded = frozenset(self._functions.loaded_names())
        self._load_errors = self._functions.load_errors()

    def _start(self, loop: asyncio.AbstractEventLoop, name: str, event: dict[str, Any], request_id: str,
               deadline: float) -> asyncio.Future[Any]:
        return loop.run_in_executor(self._executor, self._functions.call, name, event, request_id, deadline)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class WorkerRuntime(LambdaRuntime):
    """Every function in sandboxes of its own (emulator/sandboxes.py), up to ``workers`` per function,
    each with ``concurrency`` threads and exactly its function's environment (``environments``)."""

    def __init__(self, manifest: Manifest, spec: WorkerSpec, *, workers: int, faults: FaultInjector,
                 environments: Mapping[str, Mapping[str, str]], on_demand: bool = False) -> None:
        super().__init__(manifest, spec.functions_dir, region=spec.region, account_id=spec.account_id, faults=faults,
                         capacity=spec.concurrency * max(1, workers))
        self._spec = spec
        self._workers = workers
        self._environments = environments
        self._on_demand = on_demand
        self._pool: SandboxPool | None = None
        self.recycles: list[tuple[str, int | None, str]] = []  # (function, pid, why), oldest first

    def load_all(self) -> None:
        self._pool = SandboxPool(self.manifest, self._spec, self._environments, self._workers,
                                 on_demand=self._on_demand)
        self._pool.on_recycle = self._recycled
        self._pool.start()
        self._loaded = frozenset(self._pool.loaded)
        self._load_errors = dict(self._pool.errors)
        for name, error in self._load_errors.items():
            log.error("function %s failed to load: %s", name, error)

    def _recycled(self, function: str, pid: int | None, why: str) -> None:
        self.recycles.append((function, pid, why))
        log.info("sandbox of %s (pid %s) recycled: %s", function, pid, why)

    @property
    def pool(self) -> SandboxPool:
        assert self._pool is not None, "load_all first"
        return self._pool

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pool.attach(loop)

    def _slot_key(self, name: str) -> str:
        return name  # each function has sandboxes (threads) of its own

    def _ready(self, name: str) -> bool:
        return self.pool.ready(name)

    def _started(self, name: str) -> asyncio.Future[None]:
        return self.pool.started(name)

    def _start(self, loop: asyncio.AbstractEventLoop, name: str, event: dict[str, Any], request_id: str,
               deadline: float) -> asyncio.Future[Any]:
        return self.pool.submit(loop, name, event, request_id, deadline - time.monotonic())

    def _abandon(self, future: asyncio.Future[Any]) -> None:
        self.pool.abandon(future)

    def worker_pids(self, function: str | None = None) -> list[int]:
        return self._pool.pids(function) if self._pool is not None else []

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def make_runtime(manifest: Manifest, *, manifest_path: Path, functions_dir: Path, shared_dir: Path, region: str,
                 account_id: str, concurrency: int, faults: FaultInjector, function_workers: int,
                 environments: Mapping[str, Mapping[str, str]], metrics_socket: str = "",
                 sandboxes_on_demand: bool = False) -> LambdaRuntime:
    """The worker runtime with up to ``function_workers`` sandboxes per function (started on a function's
    first invocation with ``sandboxes_on_demand``), else the thread runtime."""
    if function_workers:
        spec = WorkerSpec(manifest_path, functions_dir, shared_dir, region, account_id, concurrency,
                          metrics_socket=metrics_socket)
        return WorkerRuntime(manifest, spec, workers=function_workers, faults=faults, environments=environments,
                             on_demand=sandboxes_on_demand)
    return ThreadRuntime(manifest, functions_dir, shared_dir, region=region, account_id=account_id,
                         concurrency=concurrency, faults=faults)


def _describe(inv: Invocation, exc: Exception) -> None:
    remote = isinstance(exc, HandlerError)
    error_type = exc.error_type if remote else type(exc).__name__
    inv.outcome = "error"
    inv.error = f"{error_type}: {exc}"
    inv.extra["errorType"] = error_type
    inv.extra["errorMessage"] = str(exc)
    inv.extra["stackTrace"] = exc.stack if remote else traceback.format_exception(exc)[-6:]


def _expire(future: asyncio.Future[Any], expired: list[bool]) -> None:
    expired.append(True)
    future.cancel()
