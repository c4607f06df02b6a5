"""Functions in worker processes (``StackConfig(function_workers=N)``, CLI ``--function-workers N``).

As on AWS, where Lambda runs the functions apart from API Gateway, the handlers then share no
interpreter (and no GIL) with the gateway: the gateway's event loop and the functions use
different cores. Each worker loads every function once (the same files, the same environment,
inherited at spawn) and runs invocations on its own threads. An invocation goes to the worker with
the fewest in flight. Timeouts and injected faults stay on the gateway's side
(LambdaRuntime.invoke); a result that comes back after its timeout is dropped, as Lambda drops it.

The channel is a Unix socket pair carrying length-prefixed pickles (:mod:`emulator.frames`). The
gateway's end lives on its event loop (non-blocking reads and writes, no helper thread, results
settle their futures directly) and writes every request queued in one loop iteration with one
send. A worker's threads reply the same way: whichever thread finds the socket free sends every
reply that is ready. Under load that makes one system call per batch rather than one per message.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from emulator.frames import FrameReader, frame
from emulator.handlers import FunctionSet
from manifest import load_manifest

log = logging.getLogger("emulator")
STARTUP_TIMEOUT_S = 120.0
STOP = None  # the request that tells a worker to stop


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


# --- the worker process ------------------------------------------------------------------------

class _Replies:
    """Replies of a worker's handler threads, sent in batches by whichever thread is free to."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ready: list[bytes] = []
        self._ready_lock = threading.Lock()
        self._sending = threading.Lock()

    def put(self, reply: tuple[Any, ...]) -> None:
        try:
            data = frame(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            data = frame((reply[0], False, ("Runtime.MarshalError", str(exc), [])))
        with self._ready_lock:
            self._ready.append(data)
        # A thread that cannot take the socket leaves its reply to the one sending, which looks
        # again after it lets go: no reply waits for a later one.
        while self._sending.acquire(blocking=False):
            try:
                with self._ready_lock:
                    batch, self._ready = self._ready, []
                if batch:
                    self._sock.sendall(b"".join(batch))
            except OSError:
                return  # the gateway is gone; the worker stops when its reads fail
            finally:
                self._sending.release()
            with self._ready_lock:
                if not self._ready:
                    return


def _serve(conn: Connection, spec: WorkerSpec) -> None:  # runs in the worker process
    logging.raiseExceptions = False  # a closed stdout at shutdown must not print tracebacks per log line
    # Ctrl-C reaches the whole process group: the gateway stops this worker (STOP, then terminate).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    functions = FunctionSet(load_manifest(spec.manifest_path), spec.functions_dir, spec.shared_dir,
                            region=spec.region, account_id=spec.account_id)
    functions.load_all()
    conn.send(("ready", functions.loaded_names(), functions.load_errors()))
    sock = _take_socket(conn)
    replies = _Replies(sock)
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def handler_thread() -> None:
        while True:
            request = inbox.get()
            if request is STOP:
                return
            call_id, name, event, request_id, remaining_s = request
            try:
                reply: tuple[Any, ...] = (call_id, True, functions.call(name, event, request_id,
                                                                        time.monotonic() + remaining_s))
            except Exception as exc:  # noqa: BLE001 - a crashing handler is the invocation's error
                reply = (call_id, False, (type(exc).__name__, str(exc), traceback.format_exception(exc)[-6:]))
            replies.put(reply)

    threads = [threading.Thread(target=handler_thread, name=f"lambda-{i}", daemon=True)
               for i in range(spec.concurrency)]
    for thread in threads:
        thread.start()
    reader = FrameReader()
    stopping = False
    while not stopping:
        try:
            requests = reader.receive(sock)
        except OSError:
            requests = None
        if requests is None:
            break
        for request in requests:
            if request is STOP:
                stopping = True
                break
            inbox.put(request)
    # The stack is stopping: what has not started is dropped (its caller is gone), as in thread mode.
    while True:
        try:
            inbox.get_nowait()
        except queue.Empty:
            break
    for _ in threads:
        inbox.put(STOP)
    for thread in threads:
        thread.join()
    sock.close()


# --- the gateway's side --------------------------------------------------------------------------

class _Worker:
    def __init__(self, index: int, spec: WorkerSpec) -> None:
        ctx = multiprocessing.get_context("spawn")  # the gateway process has threads and a loop
        self.conn, child = ctx.Pipe()  # duplex: a Unix socket pair
        self.process = ctx.Process(target=_serve, args=(child, spec), name=f"lambda-worker-{index}", daemon=True)
        self.process.start()
        child.close()
        self.sock: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.outbox: list[bytes] = []  # requests of this loop iteration, sent by one flush
        self.unsent = bytearray()  # what the socket did not take yet
        self.reader = FrameReader()
        self.alive = True

    def ready(self) -> tuple[list[str], dict[str, str]]:
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            raise TimeoutError("a function worker process did not start in time")
        _, loaded, errors = self.conn.recv()
        self.sock = _take_socket(self.conn)
        return loaded, errors


class WorkerPool:
    def __init__(self, count: int, spec: WorkerSpec) -> None:
        self._workers = [_Worker(i, spec) for i in range(count)]
        self._ids = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loaded: list[str] = []
        self.errors: dict[str, str] = {}
        try:
            for worker in self._workers:
                self.loaded, self.errors = worker.ready()
        except BaseException:
            self.close()
            raise

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the sockets to the loop of the first invocation (the gateway's)."""
        self._loop = loop
        for worker in self._workers:
            assert worker.sock is not None
            worker.sock.setblocking(False)
            loop.add_reader(worker.sock.fileno(), self._readable, worker)

    def submit(self, loop: asyncio.AbstractEventLoop, name: str, event: Any, request_id: str,
               remaining_s: float) -> asyncio.Future[Any]:
        if self._loop is not loop:
            if self._loop is not None:
                raise RuntimeError("the function workers serve one event loop")
            self._attach(loop)
        future: asyncio.Future[Any] = loop.create_future()
        worker = min(self._workers, key=_load) if len(self._workers) > 1 else self._workers[0]
        if not worker.alive:
            future.set_exception(HandlerError("Runtime.ExitError", "the function worker process exited", []))
            return future
        self._ids += 1
        worker.pending[self._ids] = future
        if not worker.outbox:
            loop.call_soon(self._flush, worker)
        worker.outbox.append(frame((self._ids, name, event, request_id, remaining_s)))
        return future

    def _flush(self, worker: _Worker) -> None:
        data, worker.outbox = b"".join(worker.outbox), []
        if not worker.alive or worker.sock is None:
            return
        if worker.unsent:  # the socket is full: the writer callback sends it in order
            worker.unsent += data
            return
        try:
            sent = worker.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the reader sees the end of the socket and fails what is pending
        if sent < len(data):
            worker.unsent += data[sent:]
            assert self._loop is not None
            self._loop.add_writer(worker.sock.fileno(), self._writable, worker)

    def _writable(self, worker: _Worker) -> None:
        assert worker.sock is not None and self._loop is not None
        try:
            sent = worker.sock.send(worker.unsent)
        except BlockingIOError:
            return
        except OSError:
            sent = len(worker.unsent)
        del worker.unsent[:sent]
        if not worker.unsent:
            self._loop.remove_writer(worker.sock.fileno())

    def _readable(self, worker: _Worker) -> None:
        assert worker.sock is not None
        try:
            replies = worker.reader.receive(worker.sock)
        except BlockingIOError:
            return
        except OSError:
            replies = None
        if replies is None:
            self._lost(worker)
            return
        pending = worker.pending
        for call_id, ok, payload in replies:
            future = pending.pop(call_id, None)
            if future is not None and not future.done():  # done: timed out meanwhile, drop it
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(HandlerError(*payload))

    def _lost(self, worker: _Worker) -> None:
        worker.alive = False
        if self._loop is not None and worker.sock is not None:
            self._loop.remove_reader(worker.sock.fileno())
            self._loop.remove_writer(worker.sock.fileno())
        if any(w is worker for w in self._workers):
            log.error("function worker %s exited (code %s)", worker.process.name, worker.process.exitcode)
        _fail_pending(worker, "worker exited")

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def close(self) -> None:
        """Stops the workers (from the loop's thread once attached): what they have not started is dropped."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.sock is None:
                continue
            if self._loop is not None and worker.alive:
                self._loop.remove_reader(worker.sock.fileno())
                self._loop.remove_writer(worker.sock.fileno())
            try:
                worker.sock.setblocking(True)
                worker.sock.settimeout(5)
                worker.sock.sendall(bytes(worker.unsent) + b"".join(worker.outbox) + frame(STOP))
            except OSError:
                pass
        for worker in workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)
            if worker.sock is not None:
                worker.sock.close()
            else:
                worker.conn.close()
            _fail_pending(worker, "the stack stopped")


def _take_socket(conn: Connection) -> socket.socket:
    """The Unix socket under a duplex ``multiprocessing`` Connection; the Connection is closed."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(conn.fileno()))
    conn.close()
    return sock


def _fail_pending(worker: _Worker, reason: str) -> None:
    pending, worker.pending = worker.pending, {}
    for future in pending.values():
        if not future.done():
            future.set_exception(HandlerError("Runtime.ExitError", reason, []))


def _load(worker: _Worker) -> int:
    return len(worker.pending) if worker.alive else 1 << 30

