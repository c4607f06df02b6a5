"""The benchmark's logic at trivial size, so `make test` catches breakage of `make bench`:
the seed baseline and our broadcast at N=20 through the bench's own stack process, then the
goals/table/plot of the resulting figures. Not a performance test: no figure is asserted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import echo_node, report, stack_sections
from bench.fleet import Fleet
from harness.limits import raise_nofile
from tests.e2e.conftest import node_tool

pytestmark = pytest.mark.e2e
N = 20


async def _both_designs(log: Path) -> dict:
    with stack_sections.bench_stack(concurrency=16, dynamodb="moto", log_path=log) as stack:  # moto: ~1 s start
        echo = await asyncio.to_thread(echo_node.echo, stack.ws_url, clients=3, latency_msgs=5, throughput_msgs=40,
                                       window=8, frame={"action": "benchEcho"}, reply_type="error",
                                       user_prefix="smoke-echo-")
        fleet = Fleet(stack.ws_url)
        await fleet.grow(["smoke"] * (N + 1) + [None] * 5, concurrency=16)
        await stack.set_faults(post_latency_ms=5)
        members = [c for c in fleet.clients if c.room == "smoke"]
        sender, audience = members[0], members[1:]
        ours = await stack_sections.ours(stack, fleet, sender, audience, "smoke", timeout=30)
        seed = await stack_sections.seed(stack, fleet, sender, audience, "smoke", timeout_s=0.06)
        await fleet.close()
        return {"ours": ours, "seed": seed, "registry": len(fleet.clients), "echo": echo}


def test_ours_delivers_once_per_recipient_and_reads_only_the_audience_while_the_seed_scans_and_drops(
        tmp_path: Path) -> None:
    # GIVEN a room of N+1 members among N+6 connections, 5 ms per post
    raise_nofile()
    node_tool("wscat")  # installs the pinned npm tools, `ws` among them, for the Node echo client
    # WHEN both designs broadcast to the room (the seed with a tiny simulated Lambda timeout)
    got = asyncio.run(asyncio.wait_for(_both_designs(tmp_path / "stack.log"), 120))
    ours, seed = got["ours"], got["seed"]
    # THEN ours reached every recipient exactly once, reading the audience's items with a Query
    assert (ours["received_once"], ours["missing"], ours["duplicates"], ours["unintended"]) == (N, 0, 0, 0)
    assert ours["items_read_query"] == N + 1 and ours["items_read_scan"] == 0
    # AND the seed Scanned the whole registry and silently dropped the tail at its timeout
    assert seed["items_read_scan"] == N + 6
    assert seed["timed_out"] and seed["dropped_silently"] > 0
    assert seed["received_once"] + seed["dropped_silently"] == N and seed["duplicates"] == 0
    # AND the Node echo client counted every reply of its closed loop and its pipelined phase
    assert (got["echo"]["round_trips"], got["echo"]["pipelined_msgs"]) == (15, 120)
    # AND the report renders the figures
    results = {"started": "now", "mode": "smoke", "elapsed_s": 0, "machine": {"summary": "test"},
               "fanout": {"post_latency_ms": 5, "registry_rows": N + 6, "seed_timeout_s": 0.06,
                          "runs": [{"n": N, "room": "smoke", "ours": ours, "seed": seed, "speedup": 1.0}]}}
    results["goals"] = report.evaluate(results)
    assert "Broadcast fan-out" in report.render(results)
    report.plot(results, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").stat().st_size > 0
