"""Section 1's profile: py-spy samples the stack process (gateway) and its function workers while they
fan one message out, after the measured runs (sampling takes CPU from the same 2 cores, so it never
runs during a timed run). ``--gil`` keeps only samples of threads holding the GIL: Python CPU, not
threads waiting on sockets. Best effort: without py-spy, or where ptrace is not allowed, the section
says why and the rest of the bench goes on.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE_HZ = 250
TOP = 12
# The function sandboxes' processes, by py-spy's process line: forked by multiprocessing's forkserver
# (emulator/sandboxes.py), whose command line they keep; spawn_main: workers started by spawn.
WORKER_MARKS = ("multiprocessing.forkserver", "spawn_main")
_PROCESS_LINE = re.compile(r'process \d+:"[^"]*";?')


def executable() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, raw: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    spy = executable()
    if spy is None:
        return None, "py-spy is not installed (requirements/dev.txt pins it)"
    raw.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([spy, "record", "-p", str(pid), "--subprocesses", "--gil", "--nonblocking",  # noqa: S603
                             "-r", str(RATE_HZ), "-f", "raw", "-o", str(raw)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, None


def stop(proc: subprocess.Popen[bytes]) -> str | None:
    """Stops the recording (py-spy writes its file on SIGINT); the error when it failed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "py-spy did not stop"
    return None if proc.returncode == 0 else (err or b"").decode(errors="replace")[-300:] or f"exit {proc.returncode}"


def summarize(raw: Path, top: int = TOP) -> dict[str, Any]:
    """Top entries per side (gateway, workers): self time by function, and inclusive time of our own
    code (shared/chat, emulator) and of the libraries it calls into on the hot path."""
    own: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    sides: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        side = "worker" if any(mark in stack for mark in WORKER_MARKS) else "gateway"
        # the process lines (the chain of parents): a forkserver child's command line holds ";" itself
        frames = [f for f in _PROCESS_LINE.sub("", stack).split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        sides[side] += n
        own[(side, frames[-1])] += n
        for frame in set(frames):
            inclusive[(side, frame)] += n

    def rows(counter: Counter[tuple[str, str]], side: str, keep: Any = None) -> list[dict[str, Any]]:
        picked = [(n, f) for (s, f), n in counter.items() if s == side and (keep is None or keep(f))]
        return [{"pct": round(100 * n / total, 1), "frame": f} for n, f in sorted(picked, reverse=True)[:top]]

    def ours(frame: str) -> bool:
        if any(k in frame for k in ("<module>", "stack_server.py", "emulator/loops.py", "local_api.py",
                                    "function_worker.py", "lambda_kit.py")):
            return False  # entry points and wrappers: everything runs under them
        return any(k in frame for k in ("chat/", "emulator/", "harness/", "signed_post", "urllib3/poolmanager",
                                        "botocore/auth", "aiohttp/_websocket"))

    return {"samples": total, "rate_hz": RATE_HZ,
            "share": {side: round(100 * n / total, 1) for side, n in sides.items()} if total else {},
            "self": {side: rows(own, side) for side in ("gateway", "worker")},
            "inclusive": {side: rows(inclusive, side, ours) for side in ("gateway", "worker")}}
