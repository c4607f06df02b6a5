"""The bench's cost section end to end at trivial size: each operation's DynamoDB requests, counted by
the stack's counting proxy while real clients run it, are the ones the design says (stable counts)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import cost, stack_sections
from bench.fleet import Fleet
from harness.limits import raise_nofile
from manifest import load_manifest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


async def _operations(log: Path) -> dict[str, dict]:
    manifest = load_manifest(REPO)
    with stack_sections.bench_stack(concurrency=16, dynamodb="moto", log_path=log) as stack:
        fleet = Fleet(stack.ws_url)
        await fleet.grow([None] * 12, concurrency=12)
        ops = cost.Operations(stack, fleet, manifest, reps=2)
        rooms, joins = await cost.build_rooms(ops, list(fleet.clients), {"small": 3, "big": 6})
        measured = [joins, *await ops.run_all(rooms)]
        await fleet.close()
    return {o["operation"]: o for o in measured}


def test_each_operation_costs_the_dynamodb_requests_the_design_says(tmp_path: Path) -> None:
    # GIVEN a stack behind the counting proxy and 12 connected clients, two rooms joined with joinRoom
    raise_nofile()
    # WHEN every operation runs through real clients, one at a time
    ops = asyncio.run(asyncio.wait_for(_operations(tmp_path / "stack.log"), 240))

    def calls(name: str) -> dict[str, float]:
        return ops[name]["dynamodb_calls"]

    # THEN a room message is one conditional UpdateItem (rate limit + membership from the returned row),
    # one PutItem (history) and one Query page of members, whatever the room's size
    for recipients in (3, 6):
        assert calls(f"room message, {recipients} recipients") == {"UpdateItem": 1, "PutItem": 1, "Query": 1}
    # AND a direct message reads the target's connections once (the online check is the fan-out's first page)
    assert calls("direct, target with 1 connection") == {"UpdateItem": 1, "PutItem": 1, "Query": 2}
    assert calls("direct, target with 3 connections") == {"UpdateItem": 1, "PutItem": 1, "Query": 2}
    # AND ping is one UpdateItem, connect one write, and every operation was answered and delivered
    assert calls("ping") == {"UpdateItem": 1}
    assert ops["connect"]["requests"] == 1
    assert ops["room message, 6 recipients"]["deliveries"] == 6
    # AND the dollars of each operation come from the same counts (Lambda invocations were billed)
    assert ops["room message, 6 recipients"]["usd"]["total"] > 0
    assert ops["room message, 6 recipients"]["invocations"]
