"""Functions in worker processes (``StackConfig(function_workers=N)``, CLI ``--function-workers N``).

As on AWS, where Lambda runs the functions apart from API Gateway, the handlers then share no
interpreter (and no GIL) with the gateway: the gateway's event loop and the functions use
different cores. Each worker loads every function once (the same files, the same environment,
inherited at spawn) and runs invocations on its own thread pool. Invocations are spread over the
workers round-robin. Timeouts and injected faults stay on the gateway's side (LambdaRuntime.invoke);
a result that comes back after its timeout is dropped, as Lambda drops it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import signal
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger("emulator")
STARTUP_TIMEOUT_S = 120.0


class HandlerError(Exception):
    """A handler raised in a worker: its type name, message and the tail of its stack trace."""

    def __init__(self, error_type: str, message: str, stack: list[str]) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack


@dataclass(frozen=True)
class WorkerSpec:
    manifest_path: Path
    functions_dir: Path
    shared_dir: Path
    region: str
    account_id: str
    concurrency: int


def _serve(conn: Connection, spec: WorkerSpec) -> None:  # runs in the worker process
    logging.raiseExceptions = False  # a closed stdout at shutdown must not print tracebacks per log line
    # Ctrl-C reaches the whole process group: the gateway stops this worker (None, then terminate).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from emulator.faults import FaultInjector, Faults
    from emulator.lambda_runtime import LambdaRuntime
    from emulator.manifest import Manifest

    runtime = LambdaRuntime(Manifest.load(spec.manifest_path), spec.functions_dir, spec.shared_dir,
                            region=spec.region, account_id=spec.account_id, concurrency=1,
                            faults=FaultInjector(Faults()))
    runtime.load_all()
    conn.send(("ready", runtime.loaded_names(), runtime.load_errors()))
    send_lock = threading.Lock()

    def run(call_id: int, name: str, event: Any, request_id: str, remaining_s: float) -> None:
        try:
            reply: tuple[Any, ...] = (call_id, True, runtime.call(name, event, request_id,
                                                                  time.monotonic() + remaining_s))
        except Exception as exc:  # noqa: BLE001 - a crashing handler is the invocation's error
            reply = (call_id, False, (type(exc).__name__, str(exc), traceback.format_exception(exc)[-6:]))
        with send_lock:
            try:
                conn.send(reply)
            except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
                conn.send((call_id, False, ("Runtime.MarshalError", str(exc), [])))

    pool = ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="lambda")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        pool.submit(run, *request)
    # The stack is stopping: what has not started is dropped (its caller is gone), as in thread mode.
    pool.shutdown(wait=True, cancel_futures=True)


class _Worker:
    def __init__(self, index: int, spec: WorkerSpec) -> None:
        ctx = multiprocessing.get_context("spawn")  # the gateway process has threads and a loop
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, spec), name=f"lambda-worker-{index}", daemon=True)
        self.process.start()
        child.close()
        self.send_lock = threading.Lock()
        self.alive = True


class WorkerPool:
    def __init__(self, count: int, spec: WorkerSpec) -> None:
        self._workers = [_Worker(i, spec) for i in range(count)]
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._ids = itertools.count()
        self._next = itertools.cycle(self._workers)
        self.loaded: list[str] = []
        self.errors: dict[str, str] = {}
        for worker in self._workers:
            if not worker.conn.poll(STARTUP_TIMEOUT_S):
                self.close()
                raise TimeoutError("a function worker process did not start in time")
            _, self.loaded, self.errors = worker.conn.recv()
        for worker in self._workers:
            threading.Thread(target=self._read, args=(worker,), name="lambda-worker-reader", daemon=True).start()

    def submit(self, loop: asyncio.AbstractEventLoop, name: str, event: Any, request_id: str,
               remaining_s: float) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        worker = next(self._next)
        if not worker.alive:
            future.set_exception(HandlerError("Runtime.ExitError", "the function worker process exited", []))
            return future
        call_id = next(self._ids)
        self._pending[call_id] = (loop, future)
        with worker.send_lock:
            worker.conn.send((call_id, name, event, request_id, remaining_s))
        return future

    def _read(self, worker: _Worker) -> None:
        while True:
            try:
                call_id, ok, payload = worker.conn.recv()
            except (EOFError, OSError):
                break
            entry = self._pending.pop(call_id, None)
            if entry is not None:
                loop, future = entry
                loop.call_soon_threadsafe(_settle, future, ok, payload)
        worker.alive = False
        if self._workers and any(w is worker for w in self._workers):
            log.error("function worker %s exited (code %s)", worker.process.name, worker.process.exitcode)
        for call_id, (loop, future) in list(self._pending.items()):
            self._pending.pop(call_id, None)
            loop.call_soon_threadsafe(_settle, future, False, ("Runtime.ExitError", "worker exited", []))

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            try:
                with worker.send_lock:
                    worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)
            worker.conn.close()


def _settle(future: asyncio.Future[Any], ok: bool, payload: Any) -> None:
    if future.done():  # timed out on the gateway's side meanwhile: drop the late result
        return
    if ok:
        future.set_result(payload)
    else:
        future.set_exception(HandlerError(*payload))
