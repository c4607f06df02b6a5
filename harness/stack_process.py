"""Start/stop :mod:`bench.stack_server` as a child process and talk to its local-only endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0


@dataclass
class StackProcess:
    concurrency: int = 64
    function_workers: int = 1  # as `make run`: the functions in their own process(es)
    dynamodb: str = "auto"  # auto (DynamoDB Local) | local | moto
    env: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None

    def start(self) -> StackProcess:
        cmd = [sys.executable, "-m", "bench.stack_server", "--concurrency", str(self.concurrency),
               "--function-workers", str(self.function_workers), "--dynamodb", self.dynamodb]
        for key, value in self.env.items():
            cmd += ["--env", f"{key}={value}"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                                     stderr=None, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"bench stack exited with {self.proc.wait(10)} before it was ready")
            if line.startswith("{"):
                self.info = json.loads(line)
                return self
        self.stop()
        raise TimeoutError("bench stack did not start in time")

    @property
    def ws_url(self) -> str:
        return str(self.info["ws_url"])

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    def _workers(self) -> list[psutil.Process]:
        return [psutil.Process(pid) for pid in self.info.get("worker_pids", [])]

    def rss_bytes(self, children: bool = False) -> int:
        """The emulator's RSS: the gateway process plus its function workers; ``children=True``: the
        other child processes instead (DynamoDB Local's JVM)."""
        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        workers = {w.pid for w in self._workers()}
        if children:
            return sum(c.memory_info().rss for c in p.children(recursive=True) if c.pid not in workers)
        return int(p.memory_info().rss) + sum(w.memory_info().rss for w in self._workers())

    def worker_rss_bytes(self) -> int:
        return sum(w.memory_info().rss for w in self._workers())

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        total = 0.0
        for proc in [psutil.Process(self.proc.pid), *self._workers()]:
            t = proc.cpu_times()
            total += t.user + t.system
        return total

    async def set_faults(self, **changes: Any) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.post(f"{self.base_url}/_local/faults", json=changes) as r:
            r.raise_for_status()
            return dict(await r.json())

    async def stats(self) -> dict[str, dict[str, int]]:
        async with aiohttp.ClientSession() as s, s.get(self.info["stats_url"]) as r:
            r.raise_for_status()
            return dict(await r.json())

    async def local_info(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.base_url}/_local/info") as r:
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
            proc.kill()  # our own child, by pid
            proc.wait(10)

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
