"""The local stack as a child process (``python -m emulator run``), so that the clients' event loop and
the stack's do not share one interpreter (and its GIL) during a load run."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.rss import java_children, python_children

READY_TIMEOUT_S = 180.0


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StackProcess:
    def __init__(self, repo: Path, log_path: Path, concurrency: int = 64, *, quiet: bool = True,
                 handler_log_level: str = "WARNING", extra_args: tuple[str, ...] = ()) -> None:
        self.repo = repo
        self.quiet = quiet
        self.handler_log_level = handler_log_level
        self.extra_args = extra_args
        self.log_path = log_path
        self.concurrency = concurrency
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        cmd = [sys.executable, "-m", "emulator", "run", "--host", "127.0.0.1", "--port", str(self.port),
               "--handler-log-level", self.handler_log_level, "--concurrency", str(self.concurrency),
               # the stage throttle would refuse the load itself; the per-connection limit stays on
               "--throttle-rate", "100000", "--throttle-burst", "100000",
               *(["--quiet"] if self.quiet else []), *self.extra_args]
        self.proc = subprocess.Popen(cmd, cwd=self.repo, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                     stdin=subprocess.DEVNULL, preexec_fn=_raise_fd_limit)  # noqa: PLW1509
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the local stack exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    async with session.get(f"{self.base_url}/_local/info",
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            self.info = await resp.json()
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the local stack was not ready after {READY_TIMEOUT_S:.0f} s")
                await asyncio.sleep(0.2)  # readiness poll of a child process, not test synchronisation

    @property
    def ws_url(self) -> str:
        return str(self.info["wsUrl"])

    def rss_groups(self) -> dict[str, list[int]]:
        if self.proc is None:
            return {}
        jvm = java_children(self.proc.pid)
        return {"load clients": [os.getpid()],
                "local stack (gateway + function workers)": [self.proc.pid, *python_children(self.proc.pid, jvm)],
                "dynamodb-local (jvm)": jvm}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
