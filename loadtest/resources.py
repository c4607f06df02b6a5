"""What the processes of a load run use, sampled on a thread (psutil): each group's peak resident
memory, and its CPU during a window (the sending phase), which names the run's bottleneck."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import psutil

SAMPLE_S = 0.25
#: The machine counts as CPU-bound when the processes measured use this share of its cores.
SATURATED_SHARE = 0.85


def in_process_groups() -> dict[str, list[int]]:
    """This process and its children, when the load runs against a stack it did not start (an
    in-process stack in a test, or ``--base-url``)."""
    try:
        children = [c.pid for c in psutil.Process().children(recursive=True)]
    except psutil.Error:
        children = []
    return {"clients (+ a stack in this process)": [os.getpid()], "children of this process": children}


class ResourceMonitor:
    """``groups`` is called at every sample: process ids change (a killed sandbox is replaced)."""

    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        self.groups = groups
        self.peaks: dict[str, int] = {}
        self.peak_total = 0
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (group, user + system CPU at its last sample)
        self._window: dict[int, float] | None = None  # pid -> CPU when the window opened
        self._window_cpu: dict[str, float] = {}
        self._window_opened = 0.0
        self._window_s = 0.0
        self._machine: tuple[float, float] = (0.0, 0.0)  # (busy, total) CPU seconds of the whole machine
        self._machine_busy = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def sample(self) -> None:
        groups = self.groups() or in_process_groups()
        total = 0
        with self._lock:
            for name, pids in groups.items():
                rss = 0
                for pid in pids:
                    try:
                        proc = psutil.Process(pid)
                        with proc.oneshot():
                            rss += proc.memory_info().rss
                            times = proc.cpu_times()
                    except psutil.Error:
                        continue
                    self._cpu[pid] = (name, times.user + times.system)
                self.peaks[name] = max(self.peaks.get(name, 0), rss)
                total += rss
            self.peak_total = max(self.peak_total, total)

    # --- CPU in a window --------------------------------------------------------------------------
    def open_window(self, now: float) -> None:
        """From here, CPU counts (a process first seen later counts from its start)."""
        self.sample()
        with self._lock:
            self._window = {pid: cpu for pid, (_, cpu) in self._cpu.items()}
            self._window_opened = now
            self._machine = _machine_cpu()

    def close_window(self, now: float) -> None:
        """CPU of each group since ``open_window``, as of the last samples (a process that exited
        counts up to its last sample, at most ``SAMPLE_S`` before it exited)."""
        self.sample()
        with self._lock:
            assert self._window is not None, "open_window first"
            used: dict[str, float] = {}
            for pid, (group, cpu) in self._cpu.items():
                used[group] = used.get(group, 0.0) + cpu - self._window.get(pid, 0.0)
            self._window_cpu = used
            self._window_s = now - self._window_opened
            busy, total = _machine_cpu()
            cpus = os.cpu_count() or 1
            elapsed = (total - self._machine[1]) / cpus  # seconds of wall time the kernel counted
            self._machine_busy = (busy - self._machine[0]) / elapsed if elapsed > 0 else 0.0

    def cores(self) -> dict[str, Any]:
        """Each group's average cores over the window, the sum, and the run's bottleneck named."""
        if not self._window_s:
            return {}
        by_group = {name: round(cpu / self._window_s, 2) for name, cpu in sorted(self._window_cpu.items())}
        return {"window_s": round(self._window_s, 2), "by_group": by_group,
                **bottleneck(by_group, os.cpu_count() or 1, machine_busy=round(self._machine_busy, 2))}

    def peaks_mb(self) -> dict[str, float]:
        out = {name: round(value / 2**20, 1) for name, value in self.peaks.items()}
        out["total (peak of the sum)"] = round(self.peak_total / 2**20, 1)
        return out


def bottleneck(by_group: dict[str, float], cpus: int, machine_busy: float | None = None) -> dict[str, Any]:
    """Names what bounds the rate: with the machine's cores used up by the run, the group using most of
    them; with the cores used up by other processes, those; with cores to spare, nothing CPU-bound (then
    latency, the clients' one message in flight, or a quota bounds it)."""
    total = round(sum(by_group.values()), 2)
    machine_busy = total if machine_busy is None else max(machine_busy, total)
    busiest = max(by_group, key=lambda name: by_group[name]) if by_group else None
    saturated = machine_busy >= SATURATED_SHARE * cpus
    if busiest is None:
        verdict = "no process measured"
    elif saturated and total >= SATURATED_SHARE * cpus:
        verdict = (f"CPU-bound: {total} of {cpus} cores in use; the busiest is {busiest} "
                   f"({by_group[busiest]} cores, {by_group[busiest] / total:.0%} of the CPU used)")
    elif saturated:
        verdict = (f"CPU-bound by other processes: the machine's {cpus} cores were {machine_busy} busy, this "
                   f"run's processes used {total} (busiest {busiest}, {by_group[busiest]} cores)")
    else:
        verdict = (f"not CPU-bound: {machine_busy} of {cpus} cores busy (this run {total}; busiest {busiest}, "
                   f"{by_group[busiest]} cores)")
    return {"total": total, "cpus": cpus, "machine_busy": machine_busy, "saturated": saturated,
            "busiest": busiest, "verdict": verdict}


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of every core since boot."""
    times = psutil.cpu_times()._asdict()
    idle = times["idle"] + times.get("iowait", 0.0)
    # guest time is already inside user time on Linux: not added twice
    total = sum(value for name, value in times.items() if name not in ("guest", "guest_nice"))
    return total - idle, total
