"""Stage throttling (rate/burst, from terraform variables or flags) and the new-connections quota."""

from __future__ import annotations

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from emulator import Quotas
from tests.e2e.conftest import open_client, recv_json, stack_fixture, ws_url

pytestmark = pytest.mark.e2e


throttled_stack = stack_fixture(quotas=Quotas(throttling_rate_limit=5, throttling_burst_limit=10,
                                              new_connections_per_second=2))


async def test_messages_over_the_stage_burst_get_a_too_many_requests_frame(throttled_stack):
    ws, connection_id = await open_client(throttled_stack, "u_flood")
    async with ws:
        for _ in range(30):
            await ws.send("flood")
        frames = [await recv_json(ws) for _ in range(30)]
    throttled = [f for f in frames if f.get("message") == "Too Many Requests"]
    assert throttled and all(f["connectionId"] == connection_id and f["requestId"] for f in throttled)
    assert any(f.get("type") == "error" for f in frames)  # some got through to $default


async def test_new_connections_over_the_quota_get_429(throttled_stack):
    statuses = []
    for _ in range(6):
        try:
            ws = await websockets.connect(ws_url(throttled_stack, "u_many"))
            await ws.close()
            statuses.append(101)
        except InvalidStatus as err:
            statuses.append(err.response.status_code)
    assert 429 in statuses


def test_stage_defaults_come_from_terraform_variables(tmp_path):
    from emulator.terraform_defaults import load_stage_defaults

    (tmp_path / "terraform").mkdir()
    (tmp_path / "terraform" / "variables.tf").write_text(
        'variable "stage_name" {\n  type = string\n  default = "qa"\n}\n'
        'variable "throttling_rate_limit" {\n  type = number\n  default = 42\n}\n'
        'variable "throttling_burst_limit" {\n  type = number\n  default = 84\n}\n')
    defaults = load_stage_defaults(tmp_path)
    assert (defaults.stage_name, defaults.throttling_rate_limit, defaults.throttling_burst_limit) == ("qa", 42, 84)
    assert load_stage_defaults(tmp_path / "missing").stage_name == "dev"  # fallback, with a warning
