"""Functions in sandbox processes (as `make run` starts them): same behaviour as in-process."""

from __future__ import annotations

import asyncio
import json
import os

import boto3
import pytest
import websockets

from emulator.config import Quotas
from tests.e2e.conftest import (
    in_frames,
    is_type,
    open_client,
    recv_json,
    recv_until,
    room_chat,
    stack_fixture,
)

pytestmark = pytest.mark.e2e
WAIT_S = 30.0  # a fresh worker thread creates its botocore clients (~1 s of CPU each) on first use


worker_stack = stack_fixture(function_workers=2, quotas=Quotas(throttling_rate_limit=10_000,
                                                               throttling_burst_limit=10_000))


def test_each_function_runs_in_a_process_of_its_own_apart_from_the_gateway(worker_stack):
    runtime = worker_stack.runtime
    per_function = {name: runtime.worker_pids(name) for name in runtime.manifest.functions}
    assert all(len(pids) == 1 for pids in per_function.values())  # one each until a function is busy
    pids = [pid for pids in per_function.values() for pid in pids]
    assert len(set(pids)) == len(pids) == len(per_function) and os.getpid() not in pids


async def test_room_chat_and_history_work_with_functions_in_a_worker_process(worker_stack):
    chat = await room_chat(worker_stack, "wp", "from a worker", WAIT_S)
    assert chat["ack"]["delivery"]["delivered"] == 1 and chat["message"]["messageId"] == chat["ack"]["messageId"]
    assert [m["text"] for m in chat["history"]["messages"]] == ["from a worker"]


async def test_a_handler_timeout_in_the_worker_gives_the_gateway_error_frame_and_the_socket_stays(worker_stack):
    worker_stack.set_faults(lambda_latency_ms=6_000, lambda_functions=("ping",))  # past ping's 5 s timeout
    try:
        ws, connection_id = await open_client(worker_stack, "u_wp_slow")
        async with ws:
            await ws.send(json.dumps({"action": "ping"}))
            frame = await recv_json(ws, timeout=15)
            assert (frame["message"], frame["connectionId"]) == ("Internal server error", connection_id)
            worker_stack.set_faults(lambda_latency_ms=0, lambda_functions=())
            # the next ping may be ping's first (cold: botocore clients are made on first use), with
            # ping's whole 5 s timeout (this stack had a 2 s integration timeout once: a cold ping on a
            # loaded machine took longer, a flake)
            await ws.send(json.dumps({"action": "ping"}))
            assert (await recv_until(ws, is_type("pong"), WAIT_S))["type"] == "pong"
    finally:
        worker_stack.set_faults(lambda_latency_ms=0, lambda_functions=())


async def test_a_bad_token_is_still_refused_by_the_authorizer_in_the_worker(worker_stack):
    with pytest.raises(websockets.exceptions.InvalidStatus) as err:
        await websockets.connect(f"{worker_stack.ws_url}?token=forged")
    assert err.value.response.status_code == 403


async def test_an_exception_raised_in_the_worker_reaches_the_caller_with_its_type_and_message(worker_stack):
    client = boto3.client("lambda", endpoint_url=worker_stack.lambda_url, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    response = await asyncio.to_thread(client.invoke, FunctionName="authorizer",
                                       Payload=json.dumps({"type": "REQUEST", "methodArn": "arn:x"}).encode())
    payload = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("Exception", "Unauthorized")
    assert any("authorizer" in line for line in payload["stackTrace"])


async def test_a_burst_of_large_frames_over_two_workers_gets_every_answer(worker_stack):
    """20 MB of events at once: more than the socket pairs buffer, so the gateway's writes queue
    and drain in order; every frame is answered by its own error frame, none twice."""
    stack = worker_stack
    before = len(stack.stack.invocations)  # a bounded deque: compare counts, not slices
    clients = [(await open_client(stack, f"u_wp_burst{i}"))[0] for i in range(4)]
    body = in_frames(json.dumps({"action": "nope", "pad": "x" * 100_000}))
    per_client = 50
    try:
        for ws in clients:
            for _ in range(per_client):
                await ws.send(body)
        for ws in clients:
            frames = [await recv_json(ws, timeout=60) for _ in range(per_client)]
            assert {f["code"] for f in frames} == {"UNKNOWN_ACTION"}
            assert {f.get("requestId") for f in frames} == {None}
    finally:
        for ws in clients:
            await ws.close()
    routed = [i for i in list(stack.stack.invocations)[before:] if i.route == "$default"]
    assert len(routed) == 4 * per_client and {i.outcome for i in routed} == {"ok"}

