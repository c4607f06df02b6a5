"""Chaos during the load (``python -m loadtest --chaos``, on in `make load` and `make load-quick`): four
faults on a fixed schedule, as fractions of the sending phase, printed before the run and in the report.

- ``kill-function-worker``: SIGKILL of the sandbox process running ``send_message`` (the busiest
  function); the stack must fail only its in-flight invocations and replace it. The report names the
  killed process id and the replacement's.
- ``pause-dynamodb``: DynamoDB Local's JVM stopped (SIGSTOP) for 2 s, then resumed (SIGCONT).
- ``connections-5xx``: every ``@connections`` POST answered 500 for 0.5 s, then 503 for 0.5 s
  (``POST /_local/faults``); afterwards the run's usual 429 share again.
- ``reconnect-burst``: a share of the connected clients drop their connection at once and reconnect
  right away (each resends an unacked message with the same ``clientMessageId``).

Signals go only to process ids the stack reported as its own (``/_local/info``: sandboxes and
DynamoDB Local), on this machine (the load test is loopback only).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.client import clock

KILL_FUNCTION = "send_message"
DYNAMODB_PAUSE_S = 2.0
POST_5XX_S = (0.5, 0.5)  # 500 then 503
BURST_SHARE = 0.25


@dataclass(frozen=True)
class Fault:
    name: str
    at: float  # fraction of the sending phase
    what: str


SCHEDULE = (
    Fault("kill-function-worker", 0.20, f"SIGKILL the sandbox process of {KILL_FUNCTION}"),
    Fault("pause-dynamodb", 0.40, f"SIGSTOP DynamoDB Local for {DYNAMODB_PAUSE_S:g} s, then SIGCONT"),
    Fault("connections-5xx", 0.60, f"@connections answers 500 for {POST_5XX_S[0]:g} s, then 503 for "
                                   f"{POST_5XX_S[1]:g} s"),
    Fault("reconnect-burst", 0.80, f"{BURST_SHARE:.0%} of the clients drop their connection and reconnect at once"),
)


def describe(duration_s: float) -> list[str]:
    return [f"t+{f.at * duration_s:5.1f} s  {f.name:<21} {f.what}" for f in SCHEDULE]


@dataclass
class ChaosHooks:
    """What the chaos needs from the stack and the load."""

    info: Callable[[], Awaitable[dict[str, Any]]]  # /_local/info
    set_faults: Callable[[dict[str, Any]], Awaitable[Any]]
    restore_faults: dict[str, Any]  # the run's own faults, set again after the 5xx window
    burst: Callable[[float], int]  # drops that share of the clients' connections; returns how many
    log: list[dict[str, Any]] = field(default_factory=list)


async def run_schedule(hooks: ChaosHooks, started: float, duration_s: float,
                       progress: Callable[[str], None]) -> list[dict[str, Any]]:
    for fault in SCHEDULE:
        delay = started + fault.at * duration_s - clock()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule itself, not synchronisation
        entry: dict[str, Any] = {"fault": fault.name, "at_s": round(clock() - started, 2), "what": fault.what}
        try:
            entry.update(await _ACTIONS[fault.name](hooks))
        except Exception as exc:  # noqa: BLE001 - a fault that could not be applied is reported, not fatal
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["done_at_s"] = round(clock() - started, 2)
        hooks.log.append(entry)
        progress(f"  chaos t+{entry['at_s']:.1f} s: {fault.name} {({k: v for k, v in entry.items() if k not in ('fault', 'at_s', 'what')})}")
    return hooks.log


async def _kill_function_worker(hooks: ChaosHooks) -> dict[str, Any]:
    before = (await hooks.info()).get("sandboxes", {}).get(KILL_FUNCTION, [])
    if not before:
        return {"skipped": "the stack runs no sandbox processes (--function-workers 0?)"}
    pid = before[0]
    os.kill(pid, signal.SIGKILL)
    deadline = clock() + 30.0
    while clock() < deadline:  # the replacement is reported by the stack once it takes invocations
        now = (await hooks.info()).get("sandboxes", {}).get(KILL_FUNCTION, [])
        if now and pid not in now:
            return {"killed_pid": pid, "replaced_by": now, "replaced_after_s": round(30.0 - (deadline - clock()), 2)}
        await asyncio.sleep(0.05)
    return {"killed_pid": pid, "error": "no replacement within 30 s"}


async def _pause_dynamodb(hooks: ChaosHooks) -> dict[str, Any]:
    pid = (await hooks.info()).get("dynamodb", {}).get("pid")
    if not pid:
        return {"skipped": "DynamoDB is not a separate process here (moto)"}
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(DYNAMODB_PAUSE_S)  # the length of the pause is the fault
    finally:
        os.kill(pid, signal.SIGCONT)
    return {"pid": pid, "paused_s": DYNAMODB_PAUSE_S}


async def _connections_5xx(hooks: ChaosHooks) -> dict[str, Any]:
    try:
        for status, seconds in zip((500, 503), POST_5XX_S, strict=True):
            await hooks.set_faults({"post_error_rate": 1.0, "post_error_status": status})
            await asyncio.sleep(seconds)  # the length of the outage is the fault
    finally:
        await hooks.set_faults(hooks.restore_faults)
    return {"statuses": [500, 503], "seconds": sum(POST_5XX_S)}


async def _reconnect_burst(hooks: ChaosHooks) -> dict[str, Any]:
    return {"clients_dropped": hooks.burst(BURST_SHARE)}


_ACTIONS: dict[str, Callable[[ChaosHooks], Awaitable[dict[str, Any]]]] = {
    "kill-function-worker": _kill_function_worker,
    "pause-dynamodb": _pause_dynamodb,
    "connections-5xx": _connections_5xx,
    "reconnect-burst": _reconnect_burst,
}
