"""A fan-out handed off to the `fanout` continuation function, through the local stack (issue 7):
everyone gets the message once, also when Lambda delivers the asynchronous event twice."""

from __future__ import annotations

import asyncio
import json

import boto3
import pytest

from tests.e2e.conftest import recv_until, stack_fixture
from tests.e2e.reliability_helpers import close_all, first_message, reply_to, room_of

pytestmark = pytest.mark.e2e


# ---- fan-out handed off to the continuation function ---------------------------------------------

handoff_stack = stack_fixture(extra_env={"RATE_LIMIT_PER_MINUTE": "100000", "FANOUT_TIME_MARGIN_MS": "60000"})


async def test_a_handed_off_fanout_reaches_everyone_once_even_when_the_continuation_runs_twice(handoff_stack):
    # GIVEN a stack whose senders always hand the fan-out to the `fanout` function (no time margin left)
    stack = handoff_stack
    room, clients = await room_of(stack, 4)
    (ws_s, _, _), *receivers = clients
    try:
        ack = await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "later"})
        assert ack["delivery"]["continued"] is True
        for ws, _, _ in receivers:
            assert (await first_message(ws))["text"] == "later"
        inv = await stack.wait_for_invocation(lambda i: i.function == "fanout" and i.outcome == "ok")
        # WHEN Lambda delivers the same asynchronous event a second time
        client = boto3.client("lambda", endpoint_url=stack.lambda_url, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        await asyncio.to_thread(client.invoke, FunctionName="fanout", Payload=json.dumps(inv.event).encode())
        # THEN nobody gets it twice: the next frame each receiver sees is the next message
        await reply_to(ws_s, {"action": "sendMessage", "roomId": room, "text": "after"})
        for ws, _, _ in receivers:
            assert (await recv_until(ws, lambda f: f.get("type") == "message"))["text"] == "after"
    finally:
        await close_all(clients)
