"""Section ``cost``: what each operation costs in DynamoDB requests, request units and Lambda time, and
dollars per million deliveries of ours against the seed design (:mod:`bench.baseline`).

Every figure is counted in the run: DynamoDB requests and read/write request units by the counting
proxy (:mod:`harness.dynamodb_counter`, ReturnConsumedCapacity), Lambda invocations and billed
milliseconds by the stack (:mod:`harness.invocations`), API Gateway messages by the clients that
receive them. Operations run one at a time, with the same 20 ms injected per @connections post as
section 1 (the per-post model), so billed durations are those of an uncontended invocation. Dollars
use :data:`PRICES`, one table with the date and region the prices were read for.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.baseline import seed_broadcast
from bench.fleet import Client, Fleet
from harness.dynamodb_counter import delta
from harness.stack_process import StackProcess
from manifest import Manifest

WRITES = frozenset({"PutItem", "TransactWriteItems"})  # what a $connect's registration writes
MESSAGE_UNIT_BYTES = 32 * 1024  # API Gateway meters WebSocket messages in 32 KB increments
SETTLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


#: Prices read on 2026-11-30 for US East (N. Virginia), us-east-1 (on-demand, no free tier, first tiers).
PRICES_READ = {"date": "2026-11-30", "region": "us-east-1"}
PRICES = {
    "lambda_request": Price(0.20 / 1e6, "request",
                            "aws.amazon.com/lambda/pricing ($0.20 per 1M requests; same on x86 and Arm)"),
    "lambda_gb_s_arm64": Price(0.0000133334, "GB-second",
                               "aws.amazon.com/lambda/pricing (Arm, first 7.5 billion GB-s a month; "
                               "lambda_architecture defaults to arm64)"),
    "lambda_gb_s_x86_64": Price(0.0000166667, "GB-second",
                                "aws.amazon.com/lambda/pricing (x86, first 6 billion GB-s a month)"),
    "dynamodb_wru": Price(0.625 / 1e6, "write request unit",
                          "aws.amazon.com/dynamodb/pricing/on-demand ($0.625 per million WRU since the "
                          "1 Nov 2024 on-demand price cut)"),
    "dynamodb_rru": Price(0.125 / 1e6, "read request unit",
                          "aws.amazon.com/dynamodb/pricing/on-demand ($0.125 per million RRU since the "
                          "1 Nov 2024 on-demand price cut)"),
    "websocket_message": Price(1.00 / 1e6, "message (32 KB unit)",
                               "aws.amazon.com/api-gateway/pricing (WebSocket: $1.00 per million messages "
                               "for the first billion a month, metered in 32 KB increments)"),
    "websocket_connection_minute": Price(0.25 / 1e6, "connection minute",
                                         "aws.amazon.com/api-gateway/pricing (WebSocket: $0.25 per million "
                                         "connection minutes)"),
}
#: Connection minutes do not depend on the design; to put them per delivery this workload assumption
#: says how many messages a connected client receives per minute on average.
DELIVERIES_PER_CONNECTION_MINUTE = 1.0
ARCHITECTURE = "arm64"  # terraform/variables.tf lambda_architecture's default


@dataclass
class Usage:
    """What one operation used, as counted in the run."""

    dynamodb_calls: dict[str, int]
    rru: float
    wru: float
    invocations: dict[str, int]
    billed_ms: dict[str, int]
    gb_s: float
    messages_in: int
    messages_out: int
    deliveries: int

    @property
    def requests(self) -> int:
        return sum(self.dynamodb_calls.values())

    def dollars(self) -> dict[str, float]:
        p = PRICES
        lambda_usd = (sum(self.invocations.values()) * p["lambda_request"].usd
                      + self.gb_s * p[f"lambda_gb_s_{ARCHITECTURE}"].usd)
        dynamo_usd = self.rru * p["dynamodb_rru"].usd + self.wru * p["dynamodb_wru"].usd
        messages_usd = (self.messages_in + self.messages_out) * p["websocket_message"].usd
        minutes_usd = self.deliveries / DELIVERIES_PER_CONNECTION_MINUTE * p["websocket_connection_minute"].usd
        return {"lambda": lambda_usd, "dynamodb": dynamo_usd, "websocket_messages": messages_usd,
                "connection_minutes": minutes_usd,
                "total": lambda_usd + dynamo_usd + messages_usd + minutes_usd}

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "requests": self.requests, "usd": self.dollars()}


def usage(counts: dict[str, Any], manifest: Manifest, *, messages_in: int, messages_out: int,
          deliveries: int) -> Usage:
    calls = {op: int(n) for op, n in counts.get("calls", {}).items()}
    invocations = counts.get("invocations", {})
    billed = {fn: int(v.get("billed_ms", 0)) for fn, v in invocations.items()}
    gb_s = sum(ms / 1000 * manifest.functions[fn].memory / 1024 for fn, ms in billed.items())
    return Usage(dynamodb_calls=calls, rru=float(sum(counts.get("rru", {}).values())),
                 wru=float(sum(counts.get("wru", {}).values())),
                 invocations={fn: int(v.get("invocations", 0)) for fn, v in invocations.items()},
                 billed_ms=billed, gb_s=gb_s, messages_in=messages_in, messages_out=messages_out,
                 deliveries=deliveries)


def units(frame: dict[str, Any] | str) -> int:
    text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    return max(1, math.ceil(len(text.encode()) / MESSAGE_UNIT_BYTES))


async def settled(stack: StackProcess, before: dict[str, Any], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The counters' change since ``before`` once ``done`` holds for it and it stopped moving (the
    asynchronous invocations a message leaves behind, e.g. continuations or $disconnect, recorded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last: dict[str, Any] | None = None
    while True:
        now = delta(before, await stack.stats())
        if done(now) and now == last:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stack's counters did not settle: {now}")
        last = now
        await asyncio.sleep(0.1)  # polling the counters (a bench observer), not synchronising handlers


def invoked(counts: dict[str, Any], function: str) -> int:
    return int(counts.get("invocations", {}).get(function, {}).get("invocations", 0))


class Operations:
    """Runs each operation through real clients and counts what it used."""

    def __init__(self, stack: StackProcess, fleet: Fleet, manifest: Manifest, reps: int) -> None:
        self.stack = stack
        self.fleet = fleet
        self.manifest = manifest
        self.reps = reps
        self.fn = {route: r.function for route, r in manifest.routes.items()}

    async def measure(self, name: str, act: Callable[[int], Awaitable[tuple[int, int, int]]],
                      done: Callable[[dict[str, Any]], bool] = lambda c: True, reps: int | None = None) -> dict[str, Any]:
        """``act(i)`` runs the operation's i-th time and returns (messages in, messages out, deliveries);
        the figures are the mean over ``reps`` runs."""
        runs = []
        for i in range(reps or self.reps):
            before = await self.stack.stats()
            m_in, m_out, deliveries = await act(i)
            counts = await settled(self.stack, before, done)
            runs.append(usage(counts, self.manifest, messages_in=m_in, messages_out=m_out, deliveries=deliveries))
        return {"operation": name, "runs": len(runs), **mean(runs).as_dict()}

    async def closed(self, clients: list[Client]) -> None:
        """Closes ``clients`` and waits for their $disconnect writes, so that none is counted against
        the next operation."""
        before = await self.stack.stats()
        await self.fleet.close(clients)
        await settled(self.stack, before, lambda c: c["calls"].get("DeleteItem", 0) >= len(clients))

    async def send(self, sender: Client, frame: dict[str, Any], audience: list[Client],
                   timeout: float = 120) -> tuple[int, int, int]:
        """One frame from ``sender``; waits for its answer and for every member of ``audience``."""
        if frame["action"] in ("sendMessage", "broadcast"):
            frame = {**frame, "text": f"cost {uuid.uuid4().hex[:8]}"}
        await sender.send(frame)
        _, reply = await sender.reply(timeout)
        if reply.get("type") not in ("ack", "history", "joined", "pong"):
            raise RuntimeError(f"{frame['action']} answered {reply}")
        delivered = 0
        if reply.get("type") == "ack":
            watch = self.fleet.watch(str(reply["messageId"]), len(audience))
            await asyncio.wait_for(watch.done.wait(), timeout)
            delivered = sum(1 for c in audience if reply["messageId"] in c.seen)
            if delivered != len(audience):
                raise RuntimeError(f"{frame['action']}: {delivered} of {len(audience)} got it")
        return units(frame), units(reply) + delivered * units(frame), delivered

    async def room_message(self, room: str, members: list[Client], i: int) -> tuple[int, int, int]:
        """The i-th message to ``room``, each from another member (a member's first message in a while)."""
        sender = members[i % len(members)]
        return await self.send(sender, {"action": "sendMessage", "roomId": room}, [m for m in members if m is not sender])

    async def run_all(self, rooms: dict[str, list[Client]]) -> list[dict[str, Any]]:
        out = []
        connected: list[Client] = []

        async def connect(i: int) -> tuple[int, int, int]:
            (client,) = await self.fleet.grow([None], prefix=f"cost{uuid.uuid4().hex[:6]}-")
            connected.append(client)
            return 0, 0, 0

        out.append(await self.measure("connect", connect, lambda c: bool(c["calls"].keys() & WRITES)))

        async def disconnect(i: int) -> tuple[int, int, int]:
            await self.fleet.close([connected.pop()])
            return 0, 0, 0

        out.append(await self.measure("disconnect", disconnect, lambda c: "DeleteItem" in c["calls"]))
        # direct messages: a target with one connection, then one with three; the sender has one
        users = [f"cost-direct-{uuid.uuid4().hex[:6]}-{n}" for n in range(3)]
        group = await self.fleet.grow([None] * 5, users=[users[0], users[1], users[2], users[2], users[2]])
        sender, one, three = group[0], group[1:2], group[2:5]
        out.append(await self.measure("direct, target with 1 connection", lambda i: self.send(
            sender, {"action": "sendMessage", "targetUserId": users[1]}, one)))
        out.append(await self.measure("direct, target with 3 connections", lambda i: self.send(
            sender, {"action": "sendMessage", "targetUserId": users[2]}, three)))
        await self.closed(group)
        for room, members in rooms.items():
            out.append(await self.measure(f"room message, {len(members) - 1} recipients",
                                          lambda i, r=room, m=members: self.room_message(r, m, i)))
        everyone = list(self.fleet.clients)
        out.append(await self.measure(f"broadcast to all, {len(everyone) - 1} recipients", lambda i: self.send(
            everyone[0], {"action": "broadcast"}, everyone[1:]), reps=1))
        first_room, members = next(iter(rooms.items()))
        out.append(await self.measure("getHistory (a room, 20 newest)", lambda i: self.send(
            members[0], {"action": "getHistory", "roomId": first_room, "limit": 20}, [])))
        out.append(await self.measure("ping", lambda i: self.send(members[0], {"action": "ping"}, [])))
        return out


async def build_rooms(ops: Operations, pool: list[Client], sizes: dict[str, int]) -> tuple[dict[str, list[Client]], dict[str, Any]]:
    """Rooms of ``sizes[name]`` recipients (+ the sender) out of ``pool``, every member joining with a
    real joinRoom frame; the joins are the joinRoom operation's figures."""
    rooms: dict[str, list[Client]] = {}
    joins: list[Usage] = []
    taken = 0
    for name, recipients in sizes.items():
        members = pool[taken:taken + recipients + 1]
        if len(members) < recipients + 1:
            raise ValueError(f"room {name} needs {recipients + 1} members; only {len(pool) - taken} clients left")
        taken += len(members)
        for client in members:
            before = await ops.stack.stats()
            await client.send({"action": "joinRoom", "roomId": name})
            _, reply = await client.reply(60)
            if reply.get("type") != "joined":
                raise RuntimeError(f"joinRoom answered {reply}")
            counts = delta(before, await ops.stack.stats())
            joins.append(usage(counts, ops.manifest, messages_in=1, messages_out=1, deliveries=0))
            client.room = name
        rooms[name] = members
    return rooms, {"operation": "joinRoom", "runs": len(joins), **mean(joins).as_dict()}


def mean(runs: list[Usage]) -> Usage:
    n = len(runs)

    def avg(dicts: list[dict[str, int]]) -> dict[str, Any]:
        keys = sorted({k for d in dicts for k in d})
        return {k: round(sum(d.get(k, 0) for d in dicts) / n, 2) for k in keys}

    return Usage(dynamodb_calls=avg([r.dynamodb_calls for r in runs]), rru=sum(r.rru for r in runs) / n,
                 wru=sum(r.wru for r in runs) / n, invocations=avg([r.invocations for r in runs]),
                 billed_ms=avg([r.billed_ms for r in runs]), gb_s=sum(r.gb_s for r in runs) / n,
                 messages_in=round(sum(r.messages_in for r in runs) / n, 2),  # type: ignore[arg-type]
                 messages_out=round(sum(r.messages_out for r in runs) / n, 2),  # type: ignore[arg-type]
                 deliveries=round(sum(r.deliveries for r in runs) / n, 2))  # type: ignore[arg-type]


async def seed_usage(stack: StackProcess, manifest: Manifest, sender: Client, audience: list[Client],
                     room: str, fleet: Fleet) -> dict[str, Any]:
    """The seed design's room message (Scan + sequential posts), priced like ours: one invocation billed
    for its whole run at the memory of our function for the same route."""
    mid = f"seed-{uuid.uuid4().hex}"
    data = json.dumps({"type": "message", "messageId": mid, "kind": "room", "from": sender.user,
                       "text": "seed design", "roomId": room}).encode()
    watch = fleet.watch(mid, len(audience))
    before = await stack.stats()
    info = stack.info
    report = await asyncio.to_thread(
        seed_broadcast, dynamodb_endpoint=info["dynamodb_endpoint"], table=info["tables"]["CONNECTIONS_TABLE"],
        management_url=info["management_url"], region=info["region"], data=data, room=room,
        sender_user=sender.user)
    await asyncio.wait_for(watch.done.wait(), 30)
    counts = delta(before, await stack.stats())
    billed = math.ceil(report.total_s * 1000)
    function = manifest.routes["sendMessage"].function
    counts["invocations"] = {function: {"invocations": 1, "billed_ms": billed}}
    used = usage(counts, manifest, messages_in=1, messages_out=report.posted * units(data.decode()),
                 deliveries=report.posted)
    return {"timed_out": report.timed_out, "posted": report.posted, "scanned": report.scanned_count,
            "seconds": round(report.total_s, 3), **used.as_dict()}


def per_million(usd: dict[str, float], deliveries: float) -> dict[str, float]:
    return {k: round(v / deliveries * 1e6, 4) for k, v in usd.items()} if deliveries else {}


async def dollars(stack: StackProcess, fleet: Fleet, manifest: Manifest, rooms: dict[str, list[Client]],
                  ops: Operations) -> list[dict[str, Any]]:
    """Per room: one message of ours and one of the seed design, as dollars per million deliveries."""
    out = []
    for room, members in rooms.items():
        sender, audience = members[0], members[1:]
        ours = await ops.measure(f"room {room}", lambda i, r=room, m=members: ops.room_message(r, m, i), reps=1)
        seed = await seed_usage(stack, manifest, sender, audience, room, fleet)
        mine, theirs = per_million(ours["usd"], ours["deliveries"]), per_million(seed["usd"], seed["deliveries"])
        design = {"ours": mine["lambda"] + mine["dynamodb"], "seed": theirs["lambda"] + theirs["dynamodb"]}
        out.append({"room": room, "recipients": len(audience), "registry": len(fleet.clients),
                    "ours": ours, "seed": seed, "ours_per_million": mine, "seed_per_million": theirs,
                    "ratio_total": round(theirs["total"] / mine["total"], 2) if mine.get("total") else None,
                    "ratio_lambda_dynamodb": round(design["seed"] / design["ours"], 1) if design["ours"] else None})
    return out


def prices_table() -> list[dict[str, Any]]:
    return [{"item": key, "usd": p.usd, "per": p.per, "source": p.source, **PRICES_READ} for key, p in PRICES.items()]
