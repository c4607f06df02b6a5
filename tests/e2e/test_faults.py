"""Fault injection (CLI flags, Python API, POST /_local/faults) and the gateway's error frames:
handler crash or timeout -> Internal server error frame and the client stays connected."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

from emulator import Faults, Quotas
from manifest import load_manifest
from tests.e2e.conftest import open_client, recv_json, stack_fixture

pytestmark = pytest.mark.e2e


# AWS's 29 s integration timeout: a shorter one made a fresh stack's first (cold) $connect time out on
# a busy machine (504 before any test step). The timeout test below runs past $default's own timeout.
faulty_stack = stack_fixture(quotas=Quotas(throttling_rate_limit=10_000, throttling_burst_limit=10_000))
DEFAULT_TIMEOUT_S = load_manifest().functions["default"].timeout


@pytest.fixture(autouse=True)
def no_faults_after(faulty_stack):
    yield
    faulty_stack.set_faults(Faults())


def post_faults(stack, changes: dict) -> dict:
    request = urllib.request.Request(f"{stack.base_url}/_local/faults", data=json.dumps(changes).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test URL
        return json.loads(response.read())


def management(stack):
    return boto3.client("apigatewaymanagementapi", endpoint_url=stack.management_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local",
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


async def test_handler_crash_sends_internal_server_error_and_keeps_the_connection(faulty_stack):
    ws, connection_id = await open_client(faulty_stack, "u_crash")
    async with ws:
        await asyncio.to_thread(post_faults, faulty_stack, {"lambda_error_rate": 1, "lambda_functions": ["default"]})
        await ws.send("boom")
        frame = await recv_json(ws)
        assert frame == {"message": "Internal server error", "connectionId": connection_id,
                         "requestId": frame["requestId"]} and frame["requestId"]
        await asyncio.to_thread(post_faults, faulty_stack, {"lambda_error_rate": 0})
        await ws.send("fine")
        assert (await recv_json(ws))["type"] == "error"  # $default answers again on the same socket


async def test_handler_timeout_sends_internal_server_error_and_keeps_the_connection(faulty_stack):
    ws, connection_id = await open_client(faulty_stack, "u_slow")
    async with ws:
        faulty_stack.set_faults(Faults(lambda_latency_ms=(DEFAULT_TIMEOUT_S + 1) * 1000, lambda_functions=("default",)))
        await ws.send("slow")
        frame = await recv_json(ws, timeout=DEFAULT_TIMEOUT_S + 20)  # a bound for the assertion, not a wait
        assert frame["message"] == "Internal server error" and frame["connectionId"] == connection_id
        faulty_stack.set_faults(Faults())
        await ws.send("fast again")
        assert (await recv_json(ws))["type"] == "error"
    inv = await faulty_stack.wait_for_invocation(lambda i: i.route == "$default" and i.outcome == "timeout")
    assert inv.status == 504


@pytest.mark.parametrize(("status", "code"), [(410, "GoneException"), (403, "ForbiddenException"),
                                              (429, "LimitExceededException"), (500, "InternalServerErrorException")])
async def test_injected_post_errors_use_the_aws_wire_format(faulty_stack, status, code):
    ws, connection_id = await open_client(faulty_stack, f"u_fault{status}")
    async with ws:
        faulty_stack.set_faults(Faults(post_error_rate=1.0, post_error_status=status))
        client = management(faulty_stack)
        with pytest.raises(client.exceptions.ClientError) as err:
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x")
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


async def test_injected_post_latency_delays_each_post(faulty_stack):
    ws, connection_id = await open_client(faulty_stack, "u_latency")
    async with ws:
        await asyncio.to_thread(post_faults, faulty_stack, {"post_latency_ms": 20})
        client = management(faulty_stack)
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"warm")
        started = time.perf_counter()
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"timed")
        assert time.perf_counter() - started >= 0.020


async def test_dynamodb_throttling_reaches_the_functions(faulty_stack):
    ws, _ = await open_client(faulty_stack, "u_throttled_db")
    async with ws:
        faulty_stack.set_faults(Faults(dynamodb_throttle_rate=1.0))
        await ws.send(json.dumps({"action": "joinRoom", "roomId": "busy"}))
        frame = await recv_json(ws, timeout=30)
    assert frame.get("code") == "THROTTLED" or frame.get("message") == "Internal server error"
    info = json.loads(urllib.request.urlopen(f"{faulty_stack.base_url}/_local/info", timeout=5).read())  # noqa: S310
    assert info["faultCounters"]["dynamodbThrottled"] > 0


def test_faults_endpoint_rejects_unknown_settings(faulty_stack):
    with pytest.raises(urllib.error.HTTPError) as err:
        post_faults(faulty_stack, {"no_such_fault": 1})
    assert err.value.code == 400
