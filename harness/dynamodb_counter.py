"""A DynamoDB proxy that counts what each request cost (for the benchmarks; not shipped).

It sits where the emulator's fault proxy would (handlers' AWS_ENDPOINT_URL_DYNAMODB) and reuses
that proxy's forwarding; it adds per-operation counters:

- ``calls``: requests, by operation (what a request-count goal counts);
- ``scanned`` / ``returned``: for Query/Scan the ``ScannedCount`` (items DynamoDB read) and ``Count``
  (items returned after filters); for GetItem the items found;
- ``rru`` / ``wru``: read and write request units, as on-demand billing counts them. The proxy asks
  every request for ``ReturnConsumedCapacity: INDEXES`` (when the caller did not ask itself; the
  answer's extra ``ConsumedCapacity`` member is ignored by the SDKs) and adds up what DynamoDB Local
  reports, table and indexes. Two corrections, both from DynamoDB's pricing rules, because DynamoDB
  Local does not apply them: transactional requests (TransactWriteItems, TransactGetItems) cost
  twice the units of the same items outside a transaction, and a conditional write whose condition
  fails still consumes a write (1 WRU, the least a write costs; its item size is not reported).

``GET /_bench/stats`` answers the counters as JSON, together with the counters of every other
source registered with :meth:`CountingProxy.add_source` (the stack's Lambda invocations).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.dynamodb_fault_proxy import DynamoDBFaultProxy
from emulator.faults import FaultInjector, Faults

STATS_PATH = "/_bench/stats"
READS = frozenset({"Query", "Scan"})
READ_OPS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems"})
COUNTERS = ("calls", "scanned", "returned", "rru", "wru")
CONDITION_FAILED = b"ConditionalCheckFailedException"


def capacity_units(consumed: Any) -> float:
    """The units of a ``ConsumedCapacity`` member: one dict, or a list (transactions, batches)."""
    if isinstance(consumed, dict):
        return float(consumed.get("CapacityUnits") or 0.0)
    if isinstance(consumed, list):
        return sum(capacity_units(c) for c in consumed)
    return 0.0


class CountingProxy(DynamoDBFaultProxy):
    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        super().__init__(upstream, FaultInjector(Faults()), host)
        self._lock = threading.Lock()
        self.counters: dict[str, dict[str, float]] = {name: defaultdict(float) for name in COUNTERS}
        self._sources: dict[str, Callable[[], dict[str, Any]]] = {}

    def add_source(self, name: str, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Adds another source's counters to ``/_bench/stats`` under ``name`` (thread-safe snapshot)."""
        self._sources[name] = snapshot

    async def forward(self, request: web.Request) -> web.Response:
        if request.path == STATS_PATH:
            return web.json_response(self.snapshot())
        op = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        body_in = await request.read()
        if op in READ_OPS or op in WRITE_OPS:
            body_in = _with_consumed_capacity(body_in)
        response = await self.send(request, body_in)
        scanned = returned = units = 0.0
        body = response.body if isinstance(response.body, bytes | bytearray) else b""
        if response.status == 200 and body:
            if op in READS or b'"ConsumedCapacity"' in body:
                data = json.loads(body)
                if op in READS:
                    scanned, returned = int(data.get("ScannedCount", 0)), int(data.get("Count", 0))
                units = capacity_units(data.get("ConsumedCapacity"))
            if op == "GetItem":
                scanned = returned = 1 if b'"Item"' in body else 0
            if op in TRANSACTIONS:
                units *= 2
        elif response.status == 400 and op in WRITE_OPS and CONDITION_FAILED in body:
            units = 1.0
        with self._lock:
            c = self.counters
            c["calls"][op] += 1
            c["scanned"][op] += scanned
            c["returned"][op] += returned
            if op in READ_OPS:
                c["rru"][op] += units
            elif op in WRITE_OPS:
                c["wru"][op] += units
        return response

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {name: {op: _number(v) for op, v in ops.items()}
                                   for name, ops in self.counters.items()}
        for name, source in self._sources.items():
            out[name] = source()
        return out


def _with_consumed_capacity(raw: bytes) -> bytes:
    """The request body, asking for ConsumedCapacity per table and index unless the caller asked
    itself (DynamoDB Local does not check signatures, so the body may change)."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return raw
    if not isinstance(body, dict) or body.get("ReturnConsumedCapacity") not in (None, "NONE"):
        return raw
    body["ReturnConsumedCapacity"] = "INDEXES"
    return json.dumps(body, separators=(",", ":")).encode()


def _number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(v, 3)


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """after - before, per counter and operation, at any depth (``invocations`` nests one level
    deeper); numbers that did not change are left out, counters themselves always kept."""
    out: dict[str, Any] = {}
    for kind, value in after.items():
        if isinstance(value, dict):
            out[kind] = _diff(before.get(kind) or {}, value)
    return out


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in after.items():
        if isinstance(value, dict):
            inner = _diff(before.get(key) or {}, value)
            if inner:
                out[key] = inner
        else:
            d = value - before.get(key, 0)
            if d:
                out[key] = _number(d)
    return out
