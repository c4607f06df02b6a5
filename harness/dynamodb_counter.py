"""A DynamoDB proxy that counts the items each read returned (for the benchmarks; not shipped).

It sits where the emulator's fault proxy would (handlers' AWS_ENDPOINT_URL_DYNAMODB) and reuses
that proxy's forwarding; it adds per-operation counters: calls, and for Query/Scan the
``ScannedCount`` (items DynamoDB read, what a read costs) and ``Count`` (items returned after
filters); for GetItem the items found. ``GET /_bench/stats`` answers the counters as JSON.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict

from aiohttp import web

from emulator.dynamodb_fault_proxy import DynamoDBFaultProxy
from emulator.faults import FaultInjector, Faults

STATS_PATH = "/_bench/stats"
READS = frozenset({"Query", "Scan"})


class CountingProxy(DynamoDBFaultProxy):
    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        super().__init__(upstream, FaultInjector(Faults()), host)
        self._lock = threading.Lock()
        self.calls: dict[str, int] = defaultdict(int)
        self.scanned: dict[str, int] = defaultdict(int)
        self.returned: dict[str, int] = defaultdict(int)

    async def forward(self, request: web.Request) -> web.Response:
        if request.path == STATS_PATH:
            return web.json_response(self.snapshot())
        op = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        response = await super().forward(request)
        scanned = returned = 0
        if response.status == 200 and isinstance(response.body, bytes | bytearray):
            if op in READS:
                data = json.loads(response.body)
                scanned, returned = int(data.get("ScannedCount", 0)), int(data.get("Count", 0))
            elif op == "GetItem":
                scanned = returned = 1 if b'"Item"' in response.body else 0
        with self._lock:
            self.calls[op] += 1
            self.scanned[op] += scanned
            self.returned[op] += returned
        return response

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"calls": dict(self.calls), "scanned": dict(self.scanned), "returned": dict(self.returned)}


def delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """after - before, per counter and operation (operations with no change left out)."""
    out: dict[str, dict[str, int]] = {}
    for kind, ops in after.items():
        diff = {op: n - before.get(kind, {}).get(op, 0) for op, n in ops.items()}
        out[kind] = {op: n for op, n in diff.items() if n}
    return out
