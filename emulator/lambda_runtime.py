"""Runs the functions of manifest.json in-process, the way Lambda would.

Each ``functions/<name>/handler.py`` is imported once by file path under a unique module name
(they are all called handler.py), with shared/ on sys.path as the layer is on AWS (/opt/python).
Handlers run in a thread pool (never on the event loop), or with ``function_workers=N`` in N worker
processes (emulator/function_worker.py) so that they do not share the gateway's GIL. The caller's
timeout is enforced from the gateway's side. A timed-out thread cannot be killed in Python: it
finishes in the background and its result is dropped, as Lambda drops the result of a timed-out
invocation.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import logging
import random
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from emulator.faults import FaultInjector
from emulator.function_worker import HandlerError, WorkerPool, WorkerSpec
from emulator.manifest import Function, Manifest

log = logging.getLogger("emulator")

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    __slots__ = ("function_name", "function_version", "invoked_function_arn", "memory_limit_in_mb",
                 "aws_request_id", "log_group_name", "log_stream_name", "identity", "client_context",
                 "_deadline")

    def __init__(self, fn: Function, arn: str, request_id: str, deadline: float, log_stream: str) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = str(fn.memory)  # a string on Lambda too
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = log_stream
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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
    def __init__(self, manifest: Manifest, functions_dir: Path, shared_dir: Path, *, region: str,
                 account_id: str, concurrency: int, faults: FaultInjector, function_workers: int = 0,
                 manifest_path: Path | None = None) -> None:
        self.manifest = manifest
        self.function_workers = function_workers
        self._worker_spec = WorkerSpec(manifest_path or functions_dir.parent / "manifest.json", functions_dir,
                                       shared_dir, region, account_id, concurrency)
        self._pool: WorkerPool | None = None
        self.functions_dir = functions_dir
        self.shared_dir = shared_dir
        self.region = region
        self.account_id = account_id
        self.faults = faults
        self._handlers: dict[str, Handler] = {}
        self._load_errors: dict[str, str] = {}
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lambda")
        self._log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"

    # --- loading -------------------------------------------------------------------------
    def handler_path(self, fn: Function) -> Path:
        module_file, _, _ = fn.handler.rpartition(".")
        return self.functions_dir / fn.name / (module_file.replace(".", "/") + ".py")

    def load_all(self) -> None:
        if self.function_workers:
            self._pool = WorkerPool(self.function_workers, self._worker_spec)
            self._handlers = {name: _in_worker for name in self._pool.loaded}
            self._load_errors = dict(self._pool.errors)
            for name, error in self._load_errors.items():
                log.error("function %s failed to load: %s", name, error)
            return
        shared = str(self.shared_dir)
        if shared not in sys.path:
            sys.path.insert(0, shared)
        for fn in self.manifest.functions.values():
            try:
                self._handlers[fn.name] = self._load(fn)
            except Exception as exc:  # noqa: BLE001 - reported per invocation, like Runtime.ImportModuleError
                self._load_errors[fn.name] = f"{type(exc).__name__}: {exc}"
                log.error("function %s failed to load: %s", fn.name, self._load_errors[fn.name])

    def _load(self, fn: Function) -> Handler:
        path = self.handler_path(fn)
        attribute = fn.handler.rpartition(".")[2]
        module_name = f"_lambda_function_{fn.name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise ImportError(f"{path} has no callable {attribute!r}")
        return handler

    def loaded_names(self) -> list[str]:
        return sorted(self._handlers)

    def load_errors(self) -> dict[str, str]:
        return dict(self._load_errors)

    def worker_pids(self) -> list[int]:
        return self._pool.pids() if self._pool is not None else []

    def call(self, name: str, event: dict[str, Any], request_id: str, deadline: float) -> Any:
        """Runs one handler synchronously with a Lambda context (a thread of this process or a worker)."""
        fn = self.manifest.functions[name]
        context = LambdaContext(fn, self.function_arn(name), request_id, deadline, self._log_stream)
        return self._handlers[name](event, context)

    def loaded_files(self) -> dict[str, Path]:
        return {name: self.handler_path(self.manifest.functions[name]) for name in self._handlers}

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    # --- invoking ------------------------------------------------------------------------
    @staticmethod
    def new_request_id() -> str:
        return new_request_id()

    async def invoke(self, name: str, event: dict[str, Any], *, gateway_timeout_s: float | None = None,
                     request_id: str | None = None) -> Invocation:
        """Run ``name`` with ``event``; never raises for handler failures (see ``outcome``).

        Hot path: one executor hand-off and one timer per invocation (no wait_for task).
        """
        fn = self.manifest.functions[name]
        inv = Invocation(function=name, event=event, request_id=request_id or new_request_id())
        timeout = fn.timeout if gateway_timeout_s is None else min(fn.timeout, gateway_timeout_s)
        started = time.monotonic()
        latency = self.faults.lambda_latency_s(name)
        if latency:
            await asyncio.sleep(min(latency, timeout))
            if latency >= timeout:
                return self._timed_out(inv, timeout, started)
        if name not in self._handlers:
            inv.outcome, inv.error = "error", f"Runtime.ImportModuleError: {self._load_errors.get(name)}"
        elif self.faults.lambda_error(name):
            inv.outcome, inv.error = "error", "InjectedFault: lambda_error_rate"
            inv.extra["errorType"], inv.extra["errorMessage"] = "InjectedFault", "lambda_error_rate"
        else:
            loop = asyncio.get_running_loop()
            if self._pool is not None:
                future = self._pool.submit(loop, name, event, inv.request_id,
                                           fn.timeout - (time.monotonic() - started))
            else:
                future = loop.run_in_executor(self._executor, self.call, name, event, inv.request_id,
                                              started + fn.timeout)
            expired: list[bool] = []
            timer = loop.call_at(loop.time() + timeout - (time.monotonic() - started), _expire, future, expired)
            try:
                inv.result = await future
                inv.outcome = "ok"
            except asyncio.CancelledError:
                if not expired:
                    raise  # the caller was cancelled (shutdown), not a timeout
                return self._timed_out(inv, timeout, started)
            except Exception as exc:  # noqa: BLE001 - a crashing handler is an invocation error, not ours
                remote = isinstance(exc, HandlerError)
                error_type = exc.error_type if remote else type(exc).__name__
                inv.outcome = "error"
                inv.error = f"{error_type}: {exc}"
                inv.extra["errorType"] = error_type
                inv.extra["errorMessage"] = str(exc)
                inv.extra["stackTrace"] = exc.stack if remote else traceback.format_exception(exc)[-6:]
            finally:
                timer.cancel()
        inv.duration_ms = (time.monotonic() - started) * 1000.0
        return inv

    @staticmethod
    def _timed_out(inv: Invocation, timeout: float, started: float) -> Invocation:
        inv.outcome = "timeout"
        inv.error = f"Task timed out after {timeout:.2f} seconds"
        inv.duration_ms = (time.monotonic() - started) * 1000.0
        return inv

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _in_worker(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("runs in a function worker process, not here")


# Ids are not secrets: a seeded PRNG avoids one getrandom() syscall per id on the message hot path.
_ids = random.Random()  # noqa: S311


def random_id(nbytes: int = 11) -> str:
    """An id shaped like API Gateway's (e.g. ``BFaT_fALIAMCKug=``)."""
    return base64.urlsafe_b64encode(_ids.getrandbits(nbytes * 8).to_bytes(nbytes, "big")).decode()


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """A Lambda request id: a version 4 UUID, formatted without building a ``uuid.UUID`` (hot path)."""
    h = f"{_ids.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _expire(future: asyncio.Future[Any], expired: list[bool]) -> None:
    expired.append(True)
    future.cancel()
