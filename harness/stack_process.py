"""Start/stop :mod:`harness.stack_server` as a child process, wait for its ready line (no polling), and
account for its processes: the gateway, its function sandboxes, and the rest (DynamoDB Local's JVM)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from harness.control import StackControl

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0


@dataclass
class StackProcess:
    repo: Path = REPO  # the checkout whose emulator, functions and manifest run
    concurrency: int = 64
    function_workers: int = 1  # as `make run`: the functions in their own process(es)
    sandboxes: str = "on-demand"  # as `make run`: a function's sandbox starts on its first invocation
    dynamodb: str = "auto"  # auto (DynamoDB Local) | local | moto
    dynamodb_proxy: str = "none"  # count (bench) | faults | none
    quotas: str = "lifted"  # lifted (bench) | stage (load test)
    handler_log_level: str = "WARNING"
    log_invocations: str = "off"  # off | text | json: one line per invocation, as `make run`
    env: dict[str, str] = field(default_factory=dict)  # extra handler environment
    log_path: Path | None = None  # the server's stdout+stderr (the handlers' logs); None: inherited
    info: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def command(self, ready_fd: int) -> list[str]:
        cmd = [sys.executable, "-m", "harness.stack_server", "--ready-fd", str(ready_fd),
               "--concurrency", str(self.concurrency), "--function-workers", str(self.function_workers),
               "--dynamodb", self.dynamodb, "--dynamodb-proxy", self.dynamodb_proxy, "--quotas", self.quotas,
               "--handler-log-level", self.handler_log_level, "--log-invocations", self.log_invocations]
        if self.sandboxes != "on-demand":  # the server's default; a baseline commit's server has no such flag
            cmd += ["--sandboxes", self.sandboxes]
        for key, value in self.env.items():
            cmd += ["--env", f"{key}={value}"]
        return cmd

    def start(self, timeout: float = START_TIMEOUT_S) -> StackProcess:
        ready_r, ready_w = os.pipe()
        log = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(self.command(ready_w), cwd=self.repo, stdin=subprocess.PIPE, stdout=log,  # noqa: S603
                                         stderr=subprocess.STDOUT if log else None, pass_fds=(ready_w,),
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            os.close(ready_w)
            if log is not None:
                log.close()
        try:
            self.info = json.loads(_read_line(ready_r, timeout, self.proc, self.log_path))
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(ready_r)
        return self

    @property
    def ws_url(self) -> str:
        return str(self.info["ws_url"])

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    # --- its processes -------------------------------------------------------------------------
    def _gateway(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def _descendants(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        """The gateway's descendants, read now (a sandbox killed and replaced has a new id): the
        functions' side (the sandboxes, the forkserver they are forked from, multiprocessing's resource
        tracker) and the rest (DynamoDB Local's JVM; with moto: none)."""
        functions, others = [], []
        for child in self._gateway().children(recursive=True):
            try:
                is_jvm = child.name() == "java"
            except psutil.Error:
                continue
            (others if is_jvm else functions).append(child)
        return functions, others

    def _workers(self) -> list[psutil.Process]:
        return self._descendants()[0]

    def _others(self) -> list[psutil.Process]:
        return self._descendants()[1]

    def rss_bytes(self, children: bool = False) -> int:
        """The emulator's RSS: the gateway process plus its function sandboxes (and their forkserver);
        ``children=True``: the other child processes instead (DynamoDB Local's JVM)."""
        if children:
            return _sum_rss(self._others())
        return int(self._gateway().memory_info().rss) + self.worker_rss_bytes()

    def worker_rss_bytes(self) -> int:
        return _sum_rss(self._workers())

    def cpu_seconds(self) -> float:
        """User + system CPU of the gateway and its function sandboxes (those alive now)."""
        total = 0.0
        for proc in [self._gateway(), *self._workers()]:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def process_groups(self) -> dict[str, list[int]]:
        """Process ids by role, read at each call, for a sampler of peak RSS and CPU
        (loadtest.resources.ResourceMonitor)."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        try:
            functions, others = self._descendants()
        except psutil.Error:
            functions, others = [], []
        return {"load clients": [os.getpid()],
                "local stack: gateway": [self.proc.pid],
                "local stack: function sandboxes": [p.pid for p in functions],
                "dynamodb-local (jvm)": [p.pid for p in others]}

    # --- its endpoints -------------------------------------------------------------------------
    async def set_faults(self, **changes: Any) -> dict[str, Any]:
        async with StackControl(self.base_url) as control:
            return await control.set_faults(changes)

    async def local_info(self) -> dict[str, Any]:
        async with StackControl(self.base_url) as control:
            return await control.info()

    async def stats(self) -> dict[str, dict[str, int]]:
        """The counting proxy's counters (``dynamodb_proxy="count"``)."""
        if not self.info.get("stats_url"):
            raise RuntimeError("start the stack with dynamodb_proxy='count' to count DynamoDB items")
        async with aiohttp.ClientSession() as s, s.get(self.info["stats_url"]) as r:
            r.raise_for_status()
            return dict(await r.json())

    def stop(self, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the server stops when stdin closes
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # our own child, by pid
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_line(fd: int, timeout: float, proc: subprocess.Popen[bytes], log_path: Path | None) -> str:
    """One line from ``fd`` within ``timeout``; the child exiting first is an error naming its log."""
    deadline, data = time.monotonic() + timeout, b""
    where = f"; see {log_path}" if log_path else ""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the local stack was not ready after {timeout:.0f} s{where}")
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # the write end closed without a line: the server exited
            raise RuntimeError(f"the local stack exited with {proc.wait(10)} before it was ready{where}")
        data += chunk
    return data.decode()


def _sum_rss(processes: list[psutil.Process]) -> int:
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue  # exited since it was listed
    return total
