"""The load itself: N clients in rooms send room messages for a fixed time, some disconnect and
reconnect at random, with a share of @connections POSTs failing with 429; then a drain, then the
verdict of loadtest.model (exactly once, per-sender order) from what the clients actually received.

Loopback only and bounded (see loadtest.cli). Pacing waits (time between a client's messages, the
connect ramp, a reconnect pause) are the load's shape, not synchronisation: the end of the run waits on
an event (every intended delivery seen) with a timeout.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.client import ChatClient, clock
from loadtest import chaos
from loadtest.model import Epoch, Sent, intended, judge
from loadtest.resources import ResourceMonitor

RETRYABLE = {"THROTTLED", "RATE_LIMITED", "Internal server error", "Too Many Requests"}
#: A resend answered ``duplicate`` with ``retryAfterMs`` met the delivery lease of another invocation, which
#: may have died while fanning out: the message is resent once more when the lease has run out (plus this
#: margin), as the README tells clients to (docs/reliability.md).
CONFIRM_MARGIN_S = 1.0
#: Resends after a lease, per message, at most (each duplicate ack with retryAfterMs asks for one).
MAX_CONFIRMATIONS = 5


@dataclass(frozen=True)
class LoadParams:
    clients: int = 1000
    rooms: int = 100  # clients are spread evenly: 10 per room by default
    duration_s: float = 60.0  # sending phase
    send_interval_s: float = 100.0  # mean time between two messages of one client (exponential)
    reconnect_probability: float = 0.03  # after each message: close, pause, reconnect
    reconnect_pause_s: tuple[float, float] = (0.2, 2.0)
    post_429_rate: float = 0.01  # injected LimitExceededException on @connections POSTs
    connect_per_second: float = 300.0  # under the account's 500 new connections/s
    # a missing ack: reconnect and resend the same clientMessageId. Longer than API Gateway's 29 s
    # integration timeout (an ack may legitimately take that long); 10 s made an overloaded stack collapse
    # under resends and reconnects (make load: 2,240 ack timeouts, 0.4 msg/s acked)
    ack_timeout_s: float = 30.0
    drain_timeout_s: float = 30.0
    max_attempts: int = 5  # resends of the same clientMessageId on a retryable error
    warmup_clients: int = 64  # these send one message each before the timed phase (warms handler threads);
    # those messages are verified like all others but left out of the latency figures
    text_bytes: int = 64
    seed: int | None = None
    chaos: bool = False  # the faults of loadtest.chaos on its schedule

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Target:
    """A running local stack: where to connect, how to get a token, how to set faults."""

    ws_url: str
    token: Callable[[str], Awaitable[str]]
    set_faults: Callable[[dict[str, Any]], Awaitable[Any]]
    process_groups: Callable[[], dict[str, list[int]]] = field(default=lambda: {})
    info: Callable[[], Awaitable[dict[str, Any]]] | None = None  # /_local/info (the chaos needs it)


class Dropped(Exception):
    """The connection ended while a reply was awaited."""


class Run:
    def __init__(self, target: Target, params: LoadParams) -> None:
        self.target = target
        self.params = params
        self.rng = random.Random(params.seed)  # noqa: S311 - load shape, not security
        self.sent: dict[str, Sent] = {}
        self.epochs: list[Epoch] = []
        self.connect_failures = 0
        self.send_errors: dict[str, int] = defaultdict(int)
        self.missing: set[tuple[str, tuple[str, int]]] | None = None
        self.all_seen = asyncio.Event()
        self.reconnects = 0
        self.due = 0  # messages the clients' schedules made due in the timed phase (the offer realised)
        self.skipped = 0  # slots a client let pass because it was more than an interval behind
        # users and rooms of this run only: several runs against one stack (the ceiling sweep, a
        # `--base-url` stack) must not meet each other's clientMessageIds (a resend's dedup) or rooms
        self.tag = secrets.token_hex(3)

    def received(self, key: str, epoch: Epoch) -> None:
        if self.missing is not None:
            self.missing.discard((key, epoch.key))
            if not self.missing:
                self.all_seen.set()


class Client(ChatClient):
    """One load client (the harness's client): a user in a room that reconnects now and then; every
    connection is a new :class:`Epoch` that records the messages it received."""

    def __init__(self, run: Run, index: int) -> None:
        super().__init__()
        self.run = run
        self.user = f"load-{run.tag}-{index:05d}"
        self.room = f"room-{run.tag}-{index % run.params.rooms:04d}"
        self.rng = random.Random(None if run.params.seed is None else run.params.seed + index)  # noqa: S311
        self.generation = 0
        self.epoch: Epoch | None = None
        self.seq = 0
        self.token: str | None = None
        self.kicked = asyncio.Event()  # the chaos dropped this connection: reconnect now
        self.to_confirm: list[tuple[float, Sent, str]] = []  # (when, message, body): resend once more

    def drop(self) -> bool:
        """Drops the connection at once (TCP abort, as a network blip); the client reconnects."""
        if not self.connected or self.ws is None or self.epoch is None:
            return False
        self.ws.transport.abort()
        self.kicked.set()
        return True

    async def reply_or_drop(self, timeout: float) -> dict[str, Any]:
        """The next reply; Dropped when the connection ends first, TimeoutError after ``timeout``."""
        assert self.reader is not None
        get = asyncio.ensure_future(self.replies.get())
        done, _ = await asyncio.wait({get, self.reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()[1]
        get.cancel()
        if self.reader in done:
            raise Dropped
        raise TimeoutError

    def on_message(self, frame: dict[str, Any], t: float) -> None:
        epoch = self.epoch  # the reader of a connection runs only while its epoch is the current one
        assert epoch is not None
        key = str(frame.get("clientMessageId") or frame.get("messageId"))
        epoch.received.append((key, t))
        epoch.message_ids.setdefault(key, set()).add(str(frame.get("messageId")))
        self.run.received(key, epoch)

    def on_closed(self) -> None:
        if self.epoch is not None and self.epoch.closed is None:
            self.epoch.closed = clock()

    def on_connect_failure(self, reason: str) -> None:
        self.run.connect_failures += 1

    async def backoff(self, attempt: int) -> None:
        await asyncio.sleep(self.rng.uniform(0.1, 0.5))  # back off before another handshake

    async def open(self) -> bool:
        """A new connection (a new epoch), or False when every handshake attempt failed."""
        if self.token is None:
            self.token = await self.run.target.token(self.user)
        try:
            await self.connect(f"{self.run.target.ws_url}?token={self.token}&room={self.room}", open_timeout=30)
        except (InvalidHandshake, OSError, TimeoutError):
            return False
        self.generation += 1  # set before the new reader first runs: its frames belong to this epoch
        self.epoch = Epoch(key=(self.user, self.generation), room=self.room, opened=clock())
        self.run.epochs.append(self.epoch)
        return True

    async def close(self, timeout: float = 5.0) -> None:
        if self.epoch is not None and self.epoch.closed is None:
            self.epoch.closed = clock()  # from now on it is no intended recipient
        await super().close(timeout)

    async def send_one(self) -> None:
        assert self.epoch is not None
        self.seq += 1
        key = f"{self.user}.{self.seq}"
        message = Sent(key=key, sender=self.epoch.key, room=self.room, seq=self.seq, first_sent=clock())
        self.run.sent[key] = message
        body = json.dumps({"action": "sendMessage", "roomId": self.room, "clientMessageId": key,
                           "text": "x" * self.run.params.text_bytes})
        for attempt in range(self.run.params.max_attempts):
            message.attempts += 1
            if not self.connected:
                self.run.reconnects += 1
                if not await self.open():
                    return
            try:
                await self.send(body)
                frame = await self.reply_or_drop(self.run.params.ack_timeout_s)
            except (ConnectionClosed, Dropped, TimeoutError) as exc:
                reason = "missing ack (timeout)" if isinstance(exc, TimeoutError) else "connection lost"
                message.errors.append(reason)
                self.run.send_errors[reason] += 1
                # Replies carry no request id: after a lost reply the pairing of replies to frames on
                # this socket is unknown, so resend the same clientMessageId on a new connection (a
                # new epoch), as the protocol documents.
                self.kicked.clear()  # this drop is handled here: no second reconnect
                await self.close()
                await asyncio.sleep(min(5.0, 0.25 * 2 ** attempt) * (0.5 + self.rng.random() / 2))  # backoff
                continue
            if frame.get("type") == "ack" and frame.get("clientMessageId") not in (None, key):
                self.run.send_errors["ack for another message"] += 1
                await self.close()
                return
            if frame.get("type") == "ack":
                message.acked = clock()
                message.message_id = frame.get("messageId")
                # A duplicate ack (a resend after a timeout/crash) returns before the original
                # invocation's fan-out is known to be finished: judge it like a handed-off fan-out.
                message.continued = bool((frame.get("delivery") or {}).get("continued") or frame.get("duplicate"))
                retry_after_ms = frame.get("retryAfterMs")
                if frame.get("duplicate") and isinstance(retry_after_ms, int):
                    due = clock() + retry_after_ms / 1000 + CONFIRM_MARGIN_S
                    bisect.insort(self.to_confirm, (due, message, body), key=lambda item: item[0])
                return
            reason = str(frame.get("code") or frame.get("message"))
            message.errors.append(reason)
            self.run.send_errors[reason] += 1
            if reason not in RETRYABLE:
                return
            await asyncio.sleep(min(2.0, 0.05 * 2 ** attempt) * self.rng.random())  # jittered backoff

    async def confirm(self, until: float | None = None) -> None:
        """Resends the messages whose confirmation is due (all of them, waiting, when ``until`` is None)."""
        while self.to_confirm:
            when, message, body = self.to_confirm[0]
            if until is not None and when > until:
                return
            if when > clock():
                await asyncio.sleep(when - clock())  # the lease has to run out first
            self.to_confirm.pop(0)
            for _ in range(self.run.params.max_attempts):
                if not self.connected:
                    self.run.reconnects += 1
                    if not await self.open():
                        return
                message.confirmations += 1
                try:
                    await self.send(body)
                    frame = await self.reply_or_drop(self.run.params.ack_timeout_s)
                except (ConnectionClosed, Dropped, TimeoutError):
                    self.kicked.clear()
                    await self.close()
                    continue
                if frame.get("type") != "ack":
                    continue  # an error frame (retryable: the takeover invocation failed): resend
                retry_after_ms = frame.get("retryAfterMs")
                if (frame.get("duplicate") and isinstance(retry_after_ms, int)
                        and message.confirmations < MAX_CONFIRMATIONS):
                    # the lease is held again (by a resend that took the delivery over and then failed,
                    # e.g. timed out): once more after it, as the protocol says for every such ack
                    due = clock() + retry_after_ms / 1000 + CONFIRM_MARGIN_S
                    bisect.insort(self.to_confirm, (due, message, body), key=lambda item: item[0])
                break

    async def loop(self, end: float) -> None:
        p = self.run.params
        due = clock()
        while True:
            # the messages are due on the client's own schedule (exponential gaps), not after each ack:
            # the offered rate is clients / interval whatever the latency; one due while the previous
            # one awaits its ack is sent right after that ack (one message in flight per client)
            due += self.rng.expovariate(1.0 / p.send_interval_s)
            if clock() - due > p.send_interval_s:
                # more than an interval behind (the stack is over its ceiling): the slots missed are
                # not sent late in a burst, as a person does not queue up what they did not type
                self.run.skipped += round((clock() - due) / p.send_interval_s)  # about that many slots
                due = clock()
            if due >= end:
                return
            self.run.due += 1
            try:
                await asyncio.wait_for(self.kicked.wait(), max(0.0, due - clock()))  # cut short by a drop
            except TimeoutError:
                pass
            if self.kicked.is_set():  # dropped by the chaos: reconnect at once, then carry on pacing
                self.kicked.clear()
                await self.close()
                self.run.reconnects += 1
                if not await self.open():
                    return
                continue
            if not self.connected:
                if not await self.open():
                    return
            await self.confirm(until=clock())
            await self.send_one()
            if self.rng.random() < p.reconnect_probability and clock() < end:
                await self.close()
                await asyncio.sleep(self.rng.uniform(*p.reconnect_pause_s))  # offline for a moment
                self.run.reconnects += 1
                if not await self.open():
                    return


async def run_load(target: Target, params: LoadParams, progress: Callable[[str], None] = lambda s: None
                   ) -> dict[str, Any]:
    run = Run(target, params)
    clients = [Client(run, i) for i in range(params.clients)]
    monitor = ResourceMonitor(target.process_groups)
    monitor.start()
    started = clock()
    try:
        progress(f"connecting {params.clients} clients in {params.rooms} rooms ...")
        gap = 1.0 / params.connect_per_second
        connects = []
        for client in clients:
            connects.append(asyncio.create_task(client.open()))
            await asyncio.sleep(gap)  # ramp: stay under the new-connections-per-second quota
        connected = sum(await asyncio.gather(*connects))
        connect_s = clock() - started
        progress(f"{connected} connected in {connect_s:.1f} s; injecting {params.post_429_rate:.1%} 429s; "
                 f"sending for {params.duration_s:g} s ...")
        await target.set_faults({"post_error_rate": params.post_429_rate, "post_error_status": 429})
        warm = [c for c in clients if c.epoch is not None][:params.warmup_clients]
        warm_started = clock()
        await asyncio.gather(*(c.send_one() for c in warm))
        warmup_s = clock() - warm_started
        send_started = clock()
        monitor.open_window(send_started)
        end = send_started + params.duration_s
        schedule = None
        if params.chaos:
            assert target.info is not None, "the chaos needs the stack's /_local/info"
            hooks = chaos.ChaosHooks(info=target.info, set_faults=target.set_faults,
                                     restore_faults={"post_error_rate": params.post_429_rate, "post_error_status": 429},
                                     burst=lambda share: _burst(clients, share, run.rng))
            schedule = asyncio.create_task(chaos.run_schedule(hooks, send_started, params.duration_s, progress))
        await asyncio.gather(*(c.loop(end) for c in clients if c.epoch is not None))
        run_end = clock()
        monitor.close_window(run_end)
        chaos_log = await schedule if schedule is not None else []
        confirming = sum(len(c.to_confirm) for c in clients)
        if confirming:
            progress(f"resending {confirming} message(s) answered `duplicate` after an error, once their "
                     f"delivery lease ran out (its ack's retryAfterMs) ...")
            await asyncio.gather(*(c.confirm() for c in clients))
        await target.set_faults({"post_error_rate": 0.0})

        # Drain: wait until every intended delivery was seen, or the timeout.
        by_room: dict[str, list[Epoch]] = defaultdict(list)
        for epoch in run.epochs:
            by_room[epoch.room].append(epoch)
        missing = set()
        for message in run.sent.values():
            for epoch in intended(message, by_room[message.room], run_end):
                if not any(k == message.key for k, _ in epoch.received):
                    missing.add((message.key, epoch.key))
        progress(f"sending stopped; waiting for {len(missing)} in-flight deliveries ...")
        run.missing = missing
        drain_started = clock()
        if missing:
            try:
                await asyncio.wait_for(run.all_seen.wait(), params.drain_timeout_s)
            except TimeoutError:
                pass
        drain_s = clock() - drain_started
        verdict = judge(run.sent, run.epochs, run_end, by_room=by_room, measure_from=send_started)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        monitor.stop()
    send_s = run_end - send_started
    return {
        "params": params.as_dict(),
        **verdict,
        "connected": connected,
        "connect_failures": run.connect_failures,
        "reconnects": run.reconnects,
        "connections_total": len(run.epochs),
        "send_errors": dict(run.send_errors),
        "durations_s": {"connect": round(connect_s, 2), "warmup": round(warmup_s, 2), "send": round(send_s, 2),
                        "drain": round(drain_s, 2)},
        "throughput": {**_throughput(run, send_started, send_s),
                       "offered_messages_per_s": round((run.due + run.skipped) / params.duration_s, 1),
                       "skipped_while_behind": run.skipped},
        "peak_rss_mb": monitor.peaks_mb(),
        "cpu_cores_while_sending": monitor.cores(),
        "chaos": chaos_log,
        "offered_messages_per_s": round(sum(1 for c in clients if c.epoch is not None) / params.send_interval_s, 1),
    }


def _throughput(run: Run, send_started: float, send_s: float) -> dict[str, float | None]:
    """Messages first sent in the timed phase and acked, and their distinct deliveries, per second of it
    (the warm-up's messages are verified like the others, not counted here)."""
    timed = {key for key, m in run.sent.items() if m.acked is not None and m.first_sent >= send_started}
    deliveries = {(key, epoch.key) for epoch in run.epochs for key, _ in epoch.received if key in timed}
    if not send_s:
        return {"messages_per_s": None, "deliveries_per_s": None}
    return {"messages_per_s": round(len(timed) / send_s, 1), "deliveries_per_s": round(len(deliveries) / send_s, 1)}


def _burst(clients: list[Client], share: float, rng: random.Random) -> int:
    connected = [c for c in clients if c.connected]
    return sum(c.drop() for c in rng.sample(connected, int(len(connected) * share)))
