"""The functions' sandboxes, seen from the gateway (``StackConfig(function_workers=N)``, CLI
``--function-workers N``): each function runs in worker processes of its own
(emulator/function_worker.py), apart from the gateway as Lambda runs apart from API Gateway, and apart
from every other function as each Lambda function has execution environments of its own.

- Start: each function is loaded once when the stack starts, so that an import error is reported at
  once. With ``on_demand`` (`make run`'s default) those sandboxes stop again and a function's first
  invocation starts its sandbox, as Lambda creates an execution environment for the first request (a
  cold start; a function never invoked holds no memory); else one sandbox per function stays up from
  the start. Up to N per function while every one of them has ``concurrency`` invocations in flight.
  Sandboxes are forked from a zygote process that imported the heavy libraries once (multiprocessing's
  forkserver with PRELOAD), so a start costs the import of the function's own code only; then the
  process replaces its environment with exactly its function's (emulator/function_env.py).
- Crash: a sandbox that exits (a crash in native code, the OOM killer, SIGKILL) fails the invocations
  it had in flight at once (``Runtime.ExitError``) and is replaced at once; invocations that arrive
  meanwhile wait for the new one (init time is not counted in the function timeout, as on Lambda).
- Timeout: the sandbox that ran a timed-out invocation is recycled, as Lambda stops a timed-out
  invocation's environment. It takes no new invocation; alone, it is killed at once; with other
  invocations in flight, the timed-out one is interrupted inside its handler and the process is
  killed when the last of the others settles. A replacement starts at once.

The gateway's end of each channel lives on its event loop (non-blocking reads and writes, no helper
thread, results settle their futures directly) and writes every request queued in one loop iteration
with one send.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from emulator.frames import FrameReader, frame
from emulator.function_env import lambda_runtime_environment
from emulator.function_worker import ABORT, STOP, HandlerError, WorkerSpec, serve_sandbox, take_socket
from emulator.handlers import new_log_stream
from manifest import Manifest

log = logging.getLogger("emulator")
STARTUP_TIMEOUT_S = 120.0
#: Imported once by the zygote, shared by every sandbox it forks (third-party code only: the layer and
#: the functions read their settings when they are first used, in the sandbox, never at import).
PRELOAD = ["boto3", "botocore.session", "botocore.client", "pynamodb.connection", "pynamodb.models",
           "pynamodb.transactions", "jwt", "urllib3"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


class _Sandbox:
    """One worker process of one function, and the gateway's end of its channel."""

    def __init__(self, function: str, index: int, spec: WorkerSpec) -> None:
        self.function = function
        self.conn, child = _context.Pipe()  # duplex: a Unix socket pair
        self.process = _context.Process(target=serve_sandbox, args=(child, spec), name=f"lambda-{function}-{index}",
                                        daemon=True)
        self.process.start()
        child.close()
        self.sock: socket.socket | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.outbox: list[bytes] = []  # requests of this loop iteration, sent by one flush
        self.unsent = bytearray()  # what the socket did not take yet
        self.reader = FrameReader()
        self.live = False  # ready and attached to the loop
        self.alive = True  # until its channel ends
        self.retiring = False  # takes no new invocation; killed when the last one settles
        self.loaded: list[str] = []
        self.errors: dict[str, str] = {}

    def ready(self) -> None:
        """Waits for the process to load its function (blocking: call it off the event loop)."""
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            raise TimeoutError(f"the sandbox of {self.function} did not start in {STARTUP_TIMEOUT_S:.0f} s")
        _, self.loaded, self.errors = self.conn.recv()
        self.sock = take_socket(self.conn)

    def kill(self) -> None:
        if self.process.pid is not None and self.process.exitcode is None:
            try:
                os.kill(self.process.pid, signal.SIGKILL)  # our own child process, by its id
            except ProcessLookupError:
                pass


class SandboxPool:
    def __init__(self, manifest: Manifest, spec: WorkerSpec, environments: Mapping[str, Mapping[str, str]],
                 per_function: int, *, on_demand: bool = False) -> None:
        self.manifest = manifest
        self.on_demand = on_demand
        self._spec = spec
        self._environments = environments
        self._per_function = max(1, per_function)
        self._sandboxes: dict[str, list[_Sandbox]] = {name: [] for name in manifest.functions}
        self._starting: dict[str, asyncio.Future[None]] = {}
        self._calls: dict[asyncio.Future[Any], tuple[_Sandbox, int]] = {}
        self._ids = itertools.count(1)
        self._indexes = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.loaded: list[str] = []
        self.errors: dict[str, str] = {}
        self.on_recycle: Callable[[str, int | None, str], None] = lambda function, pid, why: None

    # --- starting -------------------------------------------------------------------------------
    def _new(self, function: str) -> _Sandbox:
        fn = self.manifest.functions[function]
        env = {**self._environments[function],
               **lambda_runtime_environment(self.manifest, fn, region=self._spec.region,
                                            functions_dir=self._spec.functions_dir, log_stream=new_log_stream())}
        sandbox = _Sandbox(function, next(self._indexes), replace(self._spec, function=function, env=env))
        self._sandboxes[function].append(sandbox)
        return sandbox

    def start(self) -> None:
        """One sandbox per function, loaded (blocking: call it off the event loop); ``on_demand``: each
        is stopped again once it has reported what it loaded."""
        try:
            started = [self._new(name) for name in self.manifest.functions]
            for sandbox in started:
                sandbox.ready()
                self.loaded += sandbox.loaded
                self.errors.update(sandbox.errors)
        except BaseException:
            self.close()
            raise
        if self.on_demand:
            for group in self._sandboxes.values():
                group.clear()
            self._stop(started)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the sandboxes' channels to the gateway's loop (once, before the first invocation)."""
        self._loop = loop
        for sandboxes in self._sandboxes.values():
            for sandbox in sandboxes:
                self._go_live(sandbox)

    def _go_live(self, sandbox: _Sandbox) -> None:
        assert self._loop is not None and sandbox.sock is not None
        sandbox.sock.setblocking(False)
        self._loop.add_reader(sandbox.sock.fileno(), self._readable, sandbox)
        sandbox.live = True

    def _serving(self, function: str) -> list[_Sandbox]:
        return [s for s in self._sandboxes[function] if s.live and not s.retiring]

    def ready(self, function: str) -> bool:
        """True when ``function`` has a sandbox taking invocations (else await ``started``). A sandbox
        whose process has died is dropped here even before its channel's end is read, so that no
        invocation is sent to it."""
        for sandbox in self._serving(function):
            if sandbox.process.exitcode is not None:
                self._lost(sandbox)
        return bool(self._serving(function))

    def started(self, function: str) -> asyncio.Future[None]:
        """Resolves when a sandbox of ``function`` takes invocations (starting one if none is starting)."""
        starting = self._starting.get(function)
        if starting is None:
            starting = self._replace(function)
        return starting

    def _replace(self, function: str) -> asyncio.Future[None]:
        assert self._loop is not None
        starting = self._starting.get(function)
        if starting is not None:
            return starting
        starting = self._loop.create_future()
        self._starting[function] = starting
        self._loop.create_task(self._start_one(function, starting))
        return starting

    async def _start_one(self, function: str, starting: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            sandbox = self._new(function)
            await self._loop.run_in_executor(None, sandbox.ready)
            if self._closed:
                sandbox.kill()
                raise RuntimeError("the stack stopped")
            self._go_live(sandbox)
            starting.set_result(None)
        except Exception as exc:  # noqa: BLE001 - the invocations waiting for it fail with it
            log.error("a sandbox of %s did not start: %s", function, exc)
            starting.set_exception(HandlerError("Runtime.ExitError", f"the sandbox did not start: {exc}", []))
            starting.exception()  # retrieved: no "never retrieved" warning when nobody waited
        finally:
            if self._starting.get(function) is starting:
                del self._starting[function]

    # --- invoking -------------------------------------------------------------------------------
    def submit(self, loop: asyncio.AbstractEventLoop, name: str, event: Any, request_id: str,
               remaining_s: float) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        serving = self._serving(name)
        if not serving:
            future.set_exception(HandlerError("Runtime.ExitError", "the function's sandbox exited", []))
            return future
        sandbox = min(serving, key=_load) if len(serving) > 1 else serving[0]
        if (len(sandbox.pending) >= self._spec.concurrency and name not in self._starting
                and len(self._sandboxes[name]) < self._per_function):
            self._replace(name)  # every sandbox is busy: scale out, as Lambda starts another environment
        call_id = next(self._ids)
        sandbox.pending[call_id] = future
        self._calls[future] = (sandbox, call_id)
        self._send(sandbox, (call_id, name, event, request_id, remaining_s))
        return future

    def _send(self, sandbox: _Sandbox, request: Any) -> None:
        assert self._loop is not None
        if not sandbox.outbox:
            self._loop.call_soon(self._flush, sandbox)
        sandbox.outbox.append(frame(request))

    def abandon(self, future: asyncio.Future[Any]) -> None:
        """The invocation of ``future`` timed out: stop it and recycle its sandbox (module docstring)."""
        found = self._calls.pop(future, None)
        if found is None:
            return
        sandbox, call_id = found
        sandbox.pending.pop(call_id, None)
        if not sandbox.alive:
            return
        if not sandbox.retiring:
            sandbox.retiring = True
            self.on_recycle(sandbox.function, sandbox.process.pid, "an invocation timed out")
            if not self._serving(sandbox.function):
                self._replace(sandbox.function)
        if sandbox.pending:
            self._send(sandbox, (ABORT, call_id))  # the others may finish; this one stops now
        else:
            sandbox.kill()

    # --- the channel ----------------------------------------------------------------------------
    def _flush(self, sandbox: _Sandbox) -> None:
        data, sandbox.outbox = b"".join(sandbox.outbox), []
        if not sandbox.alive or sandbox.sock is None:
            return
        if sandbox.unsent:  # the socket is full: the writer callback sends it in order
            sandbox.unsent += data
            return
        try:
            sent = sandbox.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the reader sees the end of the socket and fails what is pending
        if sent < len(data):
            sandbox.unsent += data[sent:]
            assert self._loop is not None
            self._loop.add_writer(sandbox.sock.fileno(), self._writable, sandbox)

    def _writable(self, sandbox: _Sandbox) -> None:
        assert sandbox.sock is not None and self._loop is not None
        try:
            sent = sandbox.sock.send(sandbox.unsent)
        except BlockingIOError:
            return
        except OSError:
            sent = len(sandbox.unsent)
        del sandbox.unsent[:sent]
        if not sandbox.unsent:
            self._loop.remove_writer(sandbox.sock.fileno())

    def _readable(self, sandbox: _Sandbox) -> None:
        assert sandbox.sock is not None
        if not sandbox.alive:
            return
        try:
            replies = sandbox.reader.receive(sandbox.sock)
        except BlockingIOError:
            return
        except OSError:
            replies = None
        if replies is None:
            self._lost(sandbox)
            return
        pending, calls = sandbox.pending, self._calls
        for call_id, ok, payload in replies:
            future = pending.pop(call_id, None)
            if future is None:
                continue  # timed out meanwhile: dropped, as Lambda drops it
            del calls[future]
            if not future.done():
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(HandlerError(*payload))
        if sandbox.retiring and not sandbox.pending:
            sandbox.kill()

    def _lost(self, sandbox: _Sandbox) -> None:
        if not sandbox.alive:
            return
        sandbox.alive = sandbox.live = False
        if self._loop is not None and sandbox.sock is not None:
            self._loop.remove_reader(sandbox.sock.fileno())
            self._loop.remove_writer(sandbox.sock.fileno())
            sandbox.sock.close()
        sandboxes = self._sandboxes.get(sandbox.function, [])
        if sandbox in sandboxes:
            sandboxes.remove(sandbox)
        if self._closed:
            return
        if not sandbox.retiring:
            log.error("the sandbox of %s exited (code %s): replacing it", sandbox.function,
                      sandbox.process.exitcode)
            self.on_recycle(sandbox.function, sandbox.process.pid, "it exited")
        _fail_pending(sandbox, "the sandbox exited", self._calls)
        if not self._serving(sandbox.function):
            self._replace(sandbox.function)

    # --- info and shutdown ----------------------------------------------------------------------
    def pids(self, function: str | None = None) -> list[int]:
        """Process ids of the sandboxes taking invocations (of one function, or all)."""
        names = [function] if function is not None else list(self._sandboxes)
        return [s.process.pid for name in names for s in self._sandboxes.get(name, [])
                if s.process.pid is not None and s.alive and not s.retiring]

    def close(self) -> None:
        """Stops the sandboxes (from the loop's thread once attached): what they have not started is dropped."""
        self._closed = True
        sandboxes = [s for group in self._sandboxes.values() for s in group]
        for group in self._sandboxes.values():
            group.clear()
        self._stop(sandboxes)

    def _stop(self, sandboxes: list[_Sandbox]) -> None:
        """Sends each its unsent requests and STOP, waits for it (killed after 5 s), closes its channel
        and fails what it had in flight."""
        for sandbox in sandboxes:
            if sandbox.sock is None:
                continue
            if self._loop is not None and sandbox.live:
                self._loop.remove_reader(sandbox.sock.fileno())
                self._loop.remove_writer(sandbox.sock.fileno())
            try:
                sandbox.sock.setblocking(True)
                sandbox.sock.settimeout(5)
                sandbox.sock.sendall(bytes(sandbox.unsent) + b"".join(sandbox.outbox) + frame(STOP))
            except OSError:
                pass
        for sandbox in sandboxes:
            sandbox.process.join(5)
            if sandbox.process.is_alive():
                sandbox.kill()
                sandbox.process.join(5)
            if sandbox.sock is not None:
                sandbox.sock.close()
            else:
                sandbox.conn.close()
            _fail_pending(sandbox, "the stack stopped", self._calls)


def _fail_pending(sandbox: _Sandbox, reason: str, calls: dict[asyncio.Future[Any], tuple[_Sandbox, int]]) -> None:
    pending, sandbox.pending = sandbox.pending, {}
    for future in pending.values():
        calls.pop(future, None)
        if not future.done():
            future.set_exception(HandlerError("Runtime.ExitError", reason, []))


def _load(sandbox: _Sandbox) -> int:
    return len(sandbox.pending)
