"""Security through the local stack (issue 7): per-connection rate limiting on top of the stage throttle,
tokens and message bodies never in any log line of the stack process, and the emulator bound to loopback.
(Sender identity from the authorizer only, bad tokens and size caps: test_bad_input.py; least privilege:
tests/terraform/test_iam_least_privilege.py and tests/unit/test_permissions_cover_code.py.)"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from unittest import mock

import psutil
import pytest
import websockets
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from websockets.exceptions import InvalidStatus

from emulator import StackConfig
from emulator.cli import build_parser
from emulator.local_api import loopback_only
from harness.stack_process import StackProcess
from tests.e2e.conftest import open_client, stack_fixture
from tests.e2e.reliability_helpers import assert_still_works, first_message, reply_to, stored_by, uid

pytestmark = pytest.mark.e2e
RATE_LIMIT = 3


stack = stack_fixture(extra_env={"RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)})


# ---- per-connection rate limit, in addition to the stage throttle (tests/e2e/test_throttling.py) -----

async def test_a_connection_over_its_per_minute_budget_is_rate_limited_and_nothing_more_is_stored(stack):
    for _ in range(2):  # a fixed window: if the minute turned during the burst, try once more
        user, peer = uid("u_rl"), uid("u_peer")
        ws, _ = await open_client(stack, user)
        ws2, _ = await open_client(stack, user)  # the same user's second device has its own budget
        ws_p, _ = await open_client(stack, peer)
        async with ws, ws2, ws_p:
            minute = int(time.time()) // 60
            replies = [await reply_to(ws, {"action": "sendMessage", "targetUserId": peer, "text": f"m{i}"})
                       for i in range(RATE_LIMIT + 1)]
            if int(time.time()) // 60 != minute:
                continue
            assert [r["type"] for r in replies] == ["ack"] * RATE_LIMIT + ["error"]
            assert replies[-1]["code"] == "RATE_LIMITED"
            assert (await reply_to(ws2, {"action": "sendMessage", "targetUserId": peer, "text": "other device"}
                                   ))["type"] == "ack"
            await assert_still_works(ws)  # only messages count against the budget
            texts = [(await first_message(ws_p))["text"] for _ in range(RATE_LIMIT + 1)]
            assert texts == [f"m{i}" for i in range(RATE_LIMIT)] + ["other device"]
        assert sorted(m["text"] for m in stored_by(stack, user)) == sorted(
            [f"m{i}" for i in range(RATE_LIMIT)] + ["other device"])
        return
    pytest.fail("the minute turned twice during a burst of four messages")


# ---- logs ------------------------------------------------------------------------------------------

async def test_no_log_line_of_the_stack_process_contains_a_token_or_a_message_body(tmp_path: Path):
    # GIVEN the stack as its own process, logging every invocation, handlers at DEBUG
    proc = StackProcess(concurrency=8, quotas="stage", dynamodb_proxy="faults", handler_log_level="DEBUG",
                        log_invocations="json", log_path=tmp_path / "stack.log")
    await asyncio.to_thread(proc.start)
    secret_text, bad_secret_text = "the-secret-plan-" + uid("t"), "over-the-limit-secret-" + uid("t")
    try:
        from chat.auth import mint_token
        from emulator.config import DEV_JWT_SECRET

        tokens = {user: mint_token(user, DEV_JWT_SECRET) for user in ("u_log_a", "u_log_b")}
        forged = mint_token("u_log_a", "some-other-secret-that-is-long-enough-for-hs256")
        ws_a = await websockets.connect(f"{proc.ws_url}?token={tokens['u_log_a']}&room=logroom")
        ws_b = await websockets.connect(f"{proc.ws_url}?room=logroom",  # the token in Sec-WebSocket-Protocol
                                        subprotocols=["wschat", "bearer." + tokens["u_log_b"]])
        async with ws_a, ws_b:
            assert (await reply_to(ws_a, {"action": "sendMessage", "roomId": "logroom", "text": secret_text}
                                   ))["type"] == "ack"
            assert (await first_message(ws_b))["text"] == secret_text
            assert (await reply_to(ws_a, {"action": "sendMessage", "targetUserId": "u_log_b",
                                          "text": secret_text}))["type"] == "ack"
            assert (await reply_to(ws_a, {"action": "broadcast", "text": bad_secret_text * 400}
                                   ))["code"] == "PAYLOAD_TOO_LARGE"
            assert (await reply_to(ws_a, "{not json " + secret_text))["type"] == "error"
        with pytest.raises(InvalidStatus):
            await websockets.connect(f"{proc.ws_url}?token={forged}")
        with pytest.raises(InvalidStatus):
            await websockets.connect(proc.ws_url, subprotocols=["wschat", "bearer." + forged])
    finally:
        proc.stop()
    logs = (tmp_path / "stack.log").read_text()
    # THEN the invocations were logged, but no token, no token fragment and no message text
    assert "sendMessage" in logs and "u_log_a" in logs
    for token in (*tokens.values(), forged):
        assert token not in logs and token.split(".")[2] not in logs
    assert secret_text not in logs and bad_secret_text not in logs


# ---- the emulator is reachable from this machine only ----------------------------------------------

def test_the_emulator_binds_loopback_by_default():
    assert StackConfig().host == "127.0.0.1"
    assert build_parser().parse_args(["run"]).host == "127.0.0.1"


def test_a_running_stack_listens_on_loopback_only(stack):
    # Read the listening socket's bound address (no traffic to any other address: tests stay on loopback).
    listening = [c for c in psutil.Process().net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == stack.port]
    assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}
    with socket.create_connection(("127.0.0.1", stack.port), timeout=3):
        pass


@pytest.mark.parametrize(("peer", "status"), [(("10.1.2.3", 5555), 403), (("127.0.0.1", 5555), 200)])
async def test_local_only_endpoints_refuse_non_loopback_callers(peer, status):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: peer if name == "peername" else default
    request = make_mocked_request("POST", "/_local/faults", transport=transport)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    response = await loopback_only(request, handler)
    assert response.status == status
