"""The Lambda Invoke API the functions use for fan-out continuations, driven by stock boto3."""

from __future__ import annotations

import asyncio
import json
import uuid

import boto3
import pytest

pytestmark = pytest.mark.e2e


def lambda_client(stack):
    return boto3.client("lambda", endpoint_url=stack.lambda_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def default_route_event(body: str) -> dict:
    return {"requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "connectionId": "AAAAAAAAAAAAAAA=",
                               "requestId": str(uuid.uuid4()), "authorizer": {"userId": "u_x", "principalId": "u_x"}},
            "body": body, "isBase64Encoded": False}


async def test_request_response_invocation_returns_the_function_result(stack):
    response = await asyncio.to_thread(lambda_client(stack).invoke, FunctionName="default",
                                       Payload=json.dumps(default_route_event("nope")).encode())
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert json.loads(result["body"])["type"] == "error"


async def test_event_invocation_is_accepted_with_202_and_runs_in_the_background(stack):
    marker = str(uuid.uuid4())
    response = await asyncio.to_thread(lambda_client(stack).invoke, FunctionName="default", InvocationType="Event",
                                       Payload=json.dumps(default_route_event(marker)).encode())
    assert response["StatusCode"] == 202
    inv = await stack.wait_for_invocation(lambda i: i.function == "default" and i.event.get("body") == marker)
    assert inv.outcome == "ok"


async def test_unknown_function_raises_resource_not_found(stack):
    client = lambda_client(stack)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await asyncio.to_thread(client.invoke, FunctionName="no_such_function", Payload=b"{}")


async def test_a_failing_event_invocation_is_retried_twice_with_the_same_event_then_dropped(stack):
    # GIVEN the default function failing every time (Lambda's async retries: 2, delays 1 s and 2 s locally)
    stack.set_faults(lambda_error_rate=1.0, lambda_functions=("default",))
    marker = str(uuid.uuid4())

    def attempts():
        return [i for i in list(stack.invocations) if i.function == "default" and i.event.get("body") == marker]

    try:
        # WHEN it is invoked asynchronously
        await asyncio.to_thread(lambda_client(stack).invoke, FunctionName="default", InvocationType="Event",
                                Payload=json.dumps(default_route_event(marker)).encode())
        # THEN the same event runs three times in all, then no more
        await stack.wait_for_invocation(lambda i: len(attempts()) >= 3, timeout=15)
    finally:
        stack.set_faults(lambda_error_rate=0.0, lambda_functions=())
    assert [i.outcome for i in attempts()] == ["error", "error", "error"]
