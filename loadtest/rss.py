"""Peak resident memory of the processes of a load run, sampled on a thread (psutil)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import psutil

SAMPLE_S = 0.25


def in_process_groups() -> dict[str, list[int]]:
    """This process and its children, when the load runs against a stack it did not start (an
    in-process stack in a test, or ``--base-url``)."""
    try:
        children = [c.pid for c in psutil.Process().children(recursive=True)]
    except psutil.Error:
        children = []
    return {"clients (+ a stack in this process)": [os.getpid()], "children of this process": children}


class RssMonitor:
    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        self.groups = groups
        self.peaks: dict[str, int] = {}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)

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
        for name, pids in groups.items():
            rss = 0
            for pid in pids:
                try:
                    rss += psutil.Process(pid).memory_info().rss
                except psutil.Error:
                    continue
            self.peaks[name] = max(self.peaks.get(name, 0), rss)
            total += rss
        self.peak_total = max(self.peak_total, total)

    def peaks_mb(self) -> dict[str, float]:
        out = {name: round(value / 2**20, 1) for name, value in self.peaks.items()}
        out["total (peak of the sum)"] = round(self.peak_total / 2**20, 1)
        return out
