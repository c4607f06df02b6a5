"""`make load` in small: 30 clients in 5 rooms for 5 s, with reconnects and injected @connections 429s,
through the local stack; every intended recipient gets every message exactly once, in per-sender order
(loadtest.model defines "intended"). The full-size run is `make load` (docs/reliability.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator import Faults
from loadtest import LoadParams, Target, run_load
from tests.e2e.conftest import stack_fixture

pytestmark = pytest.mark.e2e


stack = stack_fixture(concurrency=8)  # few handler threads: fewer cold starts, less GIL churn


async def test_small_load_with_reconnects_and_429s_loses_and_duplicates_nothing(stack):
    async def token(user: str) -> str:
        return str(stack.mint_token(user))

    async def set_faults(changes: dict[str, Any]) -> Any:
        return stack.set_faults(**changes)

    params = LoadParams(clients=30, rooms=5, duration_s=5, send_interval_s=1.0, reconnect_probability=0.3,
                        reconnect_pause_s=(0.05, 0.3), post_429_rate=0.05, connect_per_second=200,
                        drain_timeout_s=10, warmup_clients=8, seed=7)
    try:
        report = await run_load(Target(ws_url=stack.ws_url, token=token, set_faults=set_faults), params)
    finally:
        stack.set_faults(Faults())
    print(json.dumps(report))  # shown by pytest when the test fails
    assert report["connected"] == 30 and report["sent"] >= 30, report
    assert report["acked"] == report["sent"], report["send_errors"]
    assert report["reconnects"] > 0 and report["expected_deliveries"] > 100
    assert (report["lost"], report["duplicated"], report["order_violations"], report["wrong_message_id"]) == (
        0, 0, 0, 0), report["lost_examples"]
    assert report["latency_ms"]["p99"] is not None and report["peak_rss_mb"]
