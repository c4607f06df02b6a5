"""The sections that need the local stack and real clients: emulator throughput/scale and the
broadcast fan-out comparison (ours vs the seed design, :mod:`bench.baseline`)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from bench.baseline import LAMBDA_TIMEOUT_S, seed_broadcast
from bench.fleet import Client, Fleet
from harness.dynamodb_counter import delta
from harness.stack_process import StackProcess
from harness.stats import percentile as pct

QUIET_S = 0.5  # after the last expected frame: how long late duplicates may still show up
# A limit no bench reaches, rather than 0 (disabled): every broadcast then runs the production
# code path (one conditional UpdateItem per message). (0 also allowed one message a minute until
# chat.registry.consume_send_quota was fixed during issue 6.)
BENCH_ENV = {"RATE_LIMIT_PER_MINUTE": "1000000"}


def bench_stack(env: dict[str, str] | None = None, **options: Any) -> StackProcess:
    """The stack process as the benchmarks run it: quotas lifted, DynamoDB behind the counting proxy."""
    return StackProcess(quotas="lifted", dynamodb_proxy="count", env={**BENCH_ENV, **(env or {})}, **options)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


async def next_reply(client: Client, kind: str, timeout: float) -> tuple[float, dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            t, frame = await client.reply(timeout)
            if frame.get("type") == kind:
                return t, frame
            if "message" in frame and "connectionId" in frame:  # a gateway error frame
                raise RuntimeError(f"gateway answered {frame['message']!r} instead of a {kind}")
            if frame.get("type") == "error":
                raise RuntimeError(f"error frame instead of a {kind}: {frame}")


# --- section 3: emulator throughput and scale ------------------------------------------------------

async def echo(fleet: Fleet, *, clients: int, latency_msgs: int, throughput_msgs: int, window: int,
               frame: dict[str, Any], reply_type: str | None) -> dict[str, Any]:
    """10 clients: closed-loop round trips (latency), then ``window`` in flight each (msg/s)."""
    group = await fleet.grow([None] * clients, prefix=f"echo{frame.get('action')}-")
    body = json.dumps(frame, separators=(",", ":"))

    async def reply(c: Client) -> float:
        t, f = await c.reply(30)
        if reply_type is not None and f.get("type") != reply_type:
            raise RuntimeError(f"unexpected reply {f}")
        return t

    async def closed_loop(c: Client) -> list[float]:
        assert c.ws is not None
        out = []
        for _ in range(latency_msgs):
            t0 = time.perf_counter()
            await c.ws.send(body)
            out.append(await reply(c) - t0)
        return out

    rtts = [x for xs in await asyncio.gather(*(closed_loop(c) for c in group)) for x in xs]

    async def pipelined(c: Client) -> None:
        assert c.ws is not None
        slots = asyncio.Semaphore(window)

        async def drain() -> None:
            for _ in range(throughput_msgs):
                await reply(c)
                slots.release()

        reader = asyncio.get_running_loop().create_task(drain())
        for _ in range(throughput_msgs):
            await slots.acquire()
            await c.ws.send(body)
        await reader

    t0 = time.perf_counter()
    await asyncio.gather(*(pipelined(c) for c in group))
    elapsed = time.perf_counter() - t0
    await fleet.close(group)
    return echo_figures("python websockets", clients, frame, rtts, throughput_msgs * clients, window, elapsed)


def echo_figures(client: str, clients: int, frame: dict[str, Any], rtts: list[float], pipelined: int,
                 window: int, elapsed_s: float) -> dict[str, Any]:
    """Section 3a's row, whichever client measured it: closed-loop RTTs (s) and the pipelined phase."""
    return {"client": client, "clients": clients, "frame": frame, "round_trips": len(rtts),
            "rtt_p50_ms": ms(pct(rtts, 50)), "rtt_p99_ms": ms(pct(rtts, 99)), "rtt_mean_ms": ms(statistics.fmean(rtts)),
            "pipelined_msgs": pipelined, "window": window, "msgs_per_s": round(pipelined / elapsed_s)}


async def broadcast_latency(stack: StackProcess, fleet: Fleet, repeats: int) -> dict[str, Any]:
    """Broadcast-to-all from client 0 (no injected latency): all-received time per broadcast and
    per-recipient receipt latency, over ``repeats`` broadcasts."""
    sender, audience = fleet.clients[0], fleet.clients[1:]
    alls, per_recipient, acks, continued = [], [], [], 0
    cpu0 = stack.cpu_seconds()
    wall0 = time.perf_counter()
    for _ in range(repeats):
        r = await ours(stack, fleet, sender, audience, None, timeout=120, keep_latencies=True)
        alls.append(r["all_received_s"])
        acks.append(r["ack_s"])
        per_recipient += r.pop("_latencies")
        continued += int(r["handed_off"])
        if r["missing"] or r["duplicates"]:
            raise RuntimeError(f"broadcast lost or duplicated frames: {r}")
    done = [a for a in alls if a is not None]
    return {"connected": len(fleet.clients), "recipients": len(audience), "broadcasts": repeats,
            "all_received_p50_ms": ms(pct(done, 50)), "all_received_p99_ms": ms(pct(done, 99)),
            "all_received_max_ms": ms(max(done) if done else None),
            "recipient_p50_ms": ms(pct(per_recipient, 50)), "recipient_p99_ms": ms(pct(per_recipient, 99)),
            "posts_per_s": round(len(audience) / statistics.median(done)) if done else None,
            "stack_cpu_cores": round((stack.cpu_seconds() - cpu0) / (time.perf_counter() - wall0), 2),
            "handed_off": continued}


# --- section 1: fan-out, ours vs the seed design ---------------------------------------------------

async def ours(stack: StackProcess, fleet: Fleet, sender: Client, audience: list[Client], room: str | None,
               *, timeout: float, keep_latencies: bool = False) -> dict[str, Any]:
    before = await stack.stats()
    cpu0 = stack.cpu_seconds()
    frame: dict[str, Any] = {"action": "broadcast", "text": f"bench {uuid.uuid4().hex[:8]}"}
    if room is not None:
        frame["roomId"] = room
    t0 = await sender.send(frame)
    t_ack, ack = await next_reply(sender, "ack", timeout)
    mid = str(ack["messageId"])
    watch = fleet.watch(mid, len(audience))
    try:
        await asyncio.wait_for(watch.done.wait(), max(1.0, timeout - (t_ack - t0)))
    except TimeoutError:
        pass
    cpu = stack.cpu_seconds() - cpu0
    await asyncio.sleep(QUIET_S)  # observation window for late duplicates (bounded)
    counts = delta(before, await stack.stats())
    got = fleet.delivery(mid, audience)
    took = watch.last - t0 if watch.done.is_set() else None
    out = {"design": "ours", "room": room, "recipients": len(audience), **got,
           "posts_per_s": round(len(audience) / took) if took else None,
           # CPU of the whole stack process (gateway + functions + @connections) per recipient: what
           # a dedicated core would need, whatever else the machine was doing
           "stack_cpu_ms_per_post": round(cpu * 1000 / max(1, len(audience)), 3),
           "ack_s": round(t_ack - t0, 3),
           "all_received_s": round(watch.last - t0, 3) if watch.done.is_set() else None,
           "handed_off": bool(ack["delivery"]["continued"]), "ack_delivery": ack["delivery"],
           "items_read_query": counts["scanned"].get("Query", 0),
           "items_read_scan": counts["scanned"].get("Scan", 0),
           "items_read_getitem": counts["scanned"].get("GetItem", 0),
           "dynamodb_calls": counts["calls"]}
    if keep_latencies:
        out["_latencies"] = [c.seen[mid] - t0 for c in audience if mid in c.seen]
    return out


async def seed(stack: StackProcess, fleet: Fleet, sender: Client, audience: list[Client], room: str | None,
               timeout_s: float = LAMBDA_TIMEOUT_S) -> dict[str, Any]:
    mid = f"seed-{uuid.uuid4().hex}"
    data = json.dumps({"type": "message", "messageId": mid, "kind": "room" if room else "broadcast",
                       "from": sender.user, "text": "seed design", "roomId": room}).encode()
    before = await stack.stats()
    watch = fleet.watch(mid, len(audience))
    t0 = time.perf_counter()
    info = stack.info
    report = await asyncio.to_thread(
        seed_broadcast, dynamodb_endpoint=info["dynamodb_endpoint"], table=info["tables"]["CONNECTIONS_TABLE"],
        management_url=info["management_url"], region=info["region"], data=data, room=room,
        sender_user=sender.user, timeout_s=timeout_s)
    if not report.timed_out:
        try:
            await asyncio.wait_for(watch.done.wait(), 10)
        except TimeoutError:
            pass
    await asyncio.sleep(QUIET_S)
    counts = delta(before, await stack.stats())
    got = fleet.delivery(mid, audience)
    per_post = report.post_s / max(1, report.posted + report.gone + report.failed)
    return {"design": "seed (NOT SHIPPED)", "room": room, "recipients": len(audience), **got,
            "all_received_s": round(watch.last - t0, 3) if watch.done.is_set() else None,
            "timed_out": report.timed_out, "simulated_timeout_s": timeout_s,
            "dropped_silently": report.dropped_at_timeout, "posted": report.posted,
            "per_post_ms": round(per_post * 1000, 2),
            "projected_full_s": round(report.scan_s + per_post * report.intended, 1),
            "items_read_scan": report.scanned_count, "items_read_scan_proxy": counts["scanned"].get("Scan", 0),
            "scan_pages": report.scan_pages, "scan_s": round(report.scan_s, 3)}
