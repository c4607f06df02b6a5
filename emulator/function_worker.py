"""The inside of a function's sandbox: a worker process that runs one function, as Lambda runs each
function in execution environments of its own (the gateway's side is emulator/sandboxes.py).

- Isolation: the process starts with exactly its function's environment (emulator/function_env.py:
  Terraform's variables for that function, what the Lambda runtime sets, the local endpoints) and
  nothing of the gateway's; ``os.environ`` is replaced before the function's code is imported.
- Invocations run on up to ``concurrency`` threads (Lambda would start more environments instead;
  threads keep the local stack small). Each carries its own deadline (``context``).
- A timed-out invocation is stopped: the gateway sends ``("abort", call_id)`` and
  :class:`InvocationTimedOut` is raised in the thread running it (at its next Python instruction, or
  when a blocking call returns), so it does no further work; one still queued for a thread never starts;
  the gateway recycles the process.

The channel is a Unix socket pair carrying length-prefixed pickles (:mod:`emulator.frames`). A worker's
threads reply in batches: whichever thread finds the socket free sends every reply that is ready.
Under load that makes one system call per batch rather than one per message.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from emulator import emf
from emulator.frames import FrameReader, frame
from emulator.handlers import FunctionSet
from manifest import load_manifest

log = logging.getLogger("emulator")
STOP = None  # the request that tells a worker to stop
ABORT = "abort"  # ("abort", call_id): the gateway timed that invocation out
STOP_GRACE_S = 2.0  # on STOP, how long in-flight invocations may finish before the process exits


class HandlerError(Exception):
    """A handler raised in a worker: its type name, message and the tail of its stack trace."""

    def __init__(self, error_type: str, message: str, stack: list[str]) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack


class InvocationTimedOut(BaseException):
    """Raised inside a handler whose invocation timed out (a BaseException: ``except Exception`` in
    handler code does not swallow it)."""


@dataclass(frozen=True)
class WorkerSpec:
    """Where the code is, and how a function's sandboxes run (``env`` is per sandbox, see SandboxPool)."""

    manifest_path: Path
    functions_dir: Path
    shared_dir: Path
    region: str
    account_id: str
    concurrency: int
    function: str = ""  # the one function a sandbox runs
    env: Mapping[str, str] = field(default_factory=dict)  # exactly its environment
    metrics_socket: str = ""  # where its EMF lines go (emulator/emf.py), outside the function's environment


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


class Running:
    """The invocations in flight: call id -> the thread running it, so that one can be stopped."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._threads: dict[int, int] = {}
        self._aborted: set[int] = set()  # timed out before a thread took them (queued behind the others)

    def enter(self, call_id: int) -> bool:
        """Marks ``call_id`` running on this thread; False if it was aborted while it waited for one."""
        with self._changed:
            if call_id in self._aborted:
                self._aborted.discard(call_id)
                return False
            self._threads[call_id] = threading.get_ident()
            return True

    def leave(self, call_id: int) -> None:
        with self._changed:
            self._threads.pop(call_id, None)
            self._changed.notify_all()

    def interrupt(self, call_id: int) -> bool:
        """Raises InvocationTimedOut in the thread of ``call_id`` while it is still inside the handler; an
        invocation that has not started yet never starts."""
        with self._changed:
            ident = self._threads.pop(call_id, None)
            if ident is None:
                self._aborted.add(call_id)
                return False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(InvocationTimedOut))
            self._changed.notify_all()
            return True

    def wait_empty(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._threads, timeout)


def _checkpoint() -> None:
    """A Python call: an interruption scheduled just before ``leave`` is raised here at the latest."""


def run_invocation(functions: Any, running: Running, replies: Any, call_id: int, name: str, event: Any,
                   request_id: str, remaining_s: float) -> None:
    """Runs one invocation on this thread and puts its reply, unless it was interrupted (timed out)."""
    try:
        if not running.enter(call_id):
            return  # timed out while queued: it never runs (the gateway has answered it)
        try:
            reply: tuple[Any, ...] = (call_id, True, functions.call(name, event, request_id,
                                                                    time.monotonic() + remaining_s))
        except Exception as exc:  # noqa: BLE001 - a crashing handler is the invocation's error
            reply = (call_id, False, (type(exc).__name__, str(exc), traceback.format_exception(exc)[-6:]))
        finally:
            running.leave(call_id)
        _checkpoint()
    except InvocationTimedOut:
        running.leave(call_id)
        return  # the gateway has answered it already: the handler stopped, nothing more is sent
    replies.put(reply)


def enter_sandbox(env: Mapping[str, str]) -> None:
    """This process's environment becomes exactly ``env`` (before any function code is imported)."""
    os.environ.clear()
    os.environ.update(env)
    if hasattr(time, "tzset"):
        time.tzset()


def serve_sandbox(conn: Connection, spec: WorkerSpec) -> None:  # runs in the worker process
    enter_sandbox(spec.env)
    emf.direct_to(spec.metrics_socket)
    sys.path.insert(0, str(spec.functions_dir / spec.function))  # the task root, first on sys.path as on Lambda
    logging.raiseExceptions = False  # a closed stdout at shutdown must not print tracebacks per log line
    # Ctrl-C reaches the whole process group: the gateway stops this worker (STOP, then terminate).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    functions = FunctionSet(load_manifest(spec.manifest_path), spec.functions_dir, spec.shared_dir,
                            region=spec.region, account_id=spec.account_id, only=(spec.function,),
                            log_stream=spec.env.get("AWS_LAMBDA_LOG_STREAM_NAME"))
    functions.load_all()
    conn.send(("ready", functions.loaded_names(), functions.load_errors()))
    sock = take_socket(conn)
    replies = _Replies(sock)
    running = Running()

    executor = ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="lambda")
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
            if request[0] == ABORT:
                running.interrupt(request[1])
                continue
            executor.submit(run_invocation, functions, running, replies, *request)
    # The stack is stopping: what has not started is dropped (its caller is gone); what runs gets a
    # moment to finish, then the process ends without waiting for a handler that does not return.
    executor.shutdown(wait=False, cancel_futures=True)
    running.wait_empty(STOP_GRACE_S)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    sock.close()
    os._exit(0)


def take_socket(conn: Connection) -> socket.socket:
    """The Unix socket under a duplex ``multiprocessing`` Connection; the Connection is closed."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(conn.fileno()))
    conn.close()
    return sock
