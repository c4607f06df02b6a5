"""The stack's ceiling: the same load (no chaos) at rising offered rates against one stack, until what
it achieves stops following what is offered. Each step is a full load run with its verdict, its
latencies and each process group's CPU, so the table names the bottleneck where the rate flattens.
``python -m loadtest --ceiling`` (``make load-ceiling``); docs/reliability.md "The stack's ceiling"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from loadtest.runner import LoadParams, Target, run_load

DEFAULT_STEPS = (10.0, 25.0, 50.0, 100.0, 200.0)  # offered messages per second
#: A step keeps up when it achieves at least this share of the rate its clients' schedules offered.
KEEPS_UP = 0.9


def step_params(base: LoadParams, offered: float) -> LoadParams:
    """``base`` with each client's mean interval set so that all clients together offer ``offered``."""
    return replace(base, send_interval_s=base.clients / offered, chaos=False)


def summarise(offered: float, report: dict[str, Any]) -> dict[str, Any]:
    achieved = report["throughput"]["messages_per_s"] or 0.0
    realised = report["throughput"].get("offered_messages_per_s") or offered
    return {
        "offered_messages_per_s": offered,
        "offered_realised_messages_per_s": realised,  # the random schedules' count in this step
        "achieved_messages_per_s": achieved,
        "deliveries_per_s": report["throughput"]["deliveries_per_s"],
        "keeps_up": achieved >= KEEPS_UP * realised,
        "ack_latency_ms": report["ack_latency_ms"],
        "latency_ms": report["latency_ms"],
        "lost": report["lost"], "duplicated_after_dedupe": report["duplicated_after_dedupe"],
        "order_violations": report["order_violations"], "wrong_message_id": report["wrong_message_id"],
        "cpu_cores_while_sending": report.get("cpu_cores_while_sending", {}),
        "peak_rss_mb": report["peak_rss_mb"],
    }


def verdict(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The ceiling is the highest rate achieved in any step; the bottleneck is named from the CPU of
    the first step that fell behind (else of the last step: the ceiling was not reached)."""
    best = max(steps, key=lambda s: s["achieved_messages_per_s"])
    behind = next((s for s in steps if not s["keeps_up"]), None)
    named = behind or steps[-1]
    return {
        "ceiling_messages_per_s": best["achieved_messages_per_s"],
        "ceiling_deliveries_per_s": best["deliveries_per_s"],
        "reached": behind is not None,
        "first_step_behind_offered_messages_per_s": behind["offered_messages_per_s"] if behind else None,
        "bottleneck": named["cpu_cores_while_sending"].get("verdict", "not measured"),
    }


async def sweep(target: Target, base: LoadParams, steps: tuple[float, ...] = DEFAULT_STEPS,
                progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Runs the steps in order against ``target``; stops after the second step that falls behind (the
    rate has flattened; a higher offer only lengthens the queue)."""
    rows: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for offered in steps:
        progress(f"ceiling: offering {offered:g} msg/s ({base.clients} clients) for {base.duration_s:g} s ...")
        report = await run_load(target, step_params(base, offered), progress=progress)
        reports.append(report)
        rows.append(summarise(offered, report))
        if sum(not row["keeps_up"] for row in rows) >= 2:
            break
    return {"params": {**base.as_dict(), "chaos": False, "steps_offered_messages_per_s": list(steps)},
            "steps": rows, **verdict(rows), "step_reports": reports}


def passed(result: dict[str, Any]) -> bool:
    return bool(result["steps"]) and all(
        s["lost"] == 0 and s["duplicated_after_dedupe"] == 0 and s["order_violations"] == 0
        and s["wrong_message_id"] == 0 for s in result["steps"])


def render(result: dict[str, Any]) -> str:
    header = ["offered msg/s (realised)", "achieved msg/s", "deliveries/s", "ack p50 / p99 ms", "lost/dup/order",
              "CPU cores by group", "busiest"]
    lines = []
    for s in result["steps"]:
        cpu = s["cpu_cores_while_sending"]
        groups = ", ".join(f"{name.replace('local stack: ', '')} {cores}" for name, cores in cpu.get("by_group", {}).items())
        lines.append([f"{s['offered_messages_per_s']:g} ({s['offered_realised_messages_per_s']})", f"{s['achieved_messages_per_s']}", f"{s['deliveries_per_s']}",
                      f"{s['ack_latency_ms']['p50']} / {s['ack_latency_ms']['p99']}",
                      f"{s['lost']}/{s['duplicated_after_dedupe']}/{s['order_violations']}",
                      f"{groups} (sum {cpu.get('total')} of {cpu.get('cpus')})", str(cpu.get("busiest"))])
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    out = ["", "  the stack's ceiling (no chaos; one stack, the same load at rising offered rates)",
           "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    reached = ("reached" if result["reached"] else
               "not reached (every step kept up: offer more with --ceiling-steps)")
    out += ["", f"  ceiling: {result['ceiling_messages_per_s']} msg/s, {result['ceiling_deliveries_per_s']} "
                f"deliveries/s ({reached})", f"  bottleneck: {result['bottleneck']}", ""]
    return "\n".join(out)
