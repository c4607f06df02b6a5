"""@connections with stock boto3: POST/GET/DELETE, GoneException and PayloadTooLargeException wire formats."""

from __future__ import annotations

import asyncio
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import invocation_of, open_client, recv_until

pytestmark = pytest.mark.e2e


def management(stack):
    return boto3.client("apigatewaymanagementapi", endpoint_url=stack.management_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


async def test_post_to_connection_delivers_a_text_frame(stack):
    ws, connection_id = await open_client(stack, "u_post")
    async with ws:
        response = await asyncio.to_thread(management(stack).post_to_connection, ConnectionId=connection_id,
                                           Data=json.dumps({"type": "note"}).encode())
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "note"}


async def test_get_connection_returns_connected_at_last_active_at_and_identity(stack):
    ws, connection_id = await open_client(stack, "u_get")
    async with ws:
        info = await asyncio.to_thread(management(stack).get_connection, ConnectionId=connection_id)
    assert info["Identity"]["SourceIp"] == "127.0.0.1"
    assert "Python" in info["Identity"]["UserAgent"]  # the websockets client's User-Agent
    assert info["ConnectedAt"] <= info["LastActiveAt"]


async def test_delete_connection_closes_the_socket_and_fires_disconnect(stack):
    ws, connection_id = await open_client(stack, "u_delete")
    response = await asyncio.to_thread(management(stack).delete_connection, ConnectionId=connection_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, lambda f: False)
    inv = await invocation_of(stack, "$disconnect", connection_id)
    assert inv.event["requestContext"]["disconnectStatusCode"] == 1000


@pytest.mark.parametrize("operation", ["post_to_connection", "get_connection", "delete_connection"])
async def test_unknown_connection_id_raises_gone_exception(stack, operation):
    kwargs = {"ConnectionId": "AAAAAAAAAAAAAAA="}
    if operation == "post_to_connection":
        kwargs["Data"] = b"x"
    with pytest.raises(ClientError) as err:
        await asyncio.to_thread(getattr(management(stack), operation), **kwargs)
    assert err.value.response["Error"]["Code"] == "GoneException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    client = management(stack)
    assert isinstance(err.value, ClientError) and client.exceptions.GoneException.__name__ == "GoneException"


async def test_closed_connection_is_gone_and_boto3_raises_the_modeled_exception(stack):
    ws, connection_id = await open_client(stack, "u_gone")
    await ws.close()
    await invocation_of(stack, "$disconnect", connection_id)
    client = management(stack)
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"late")


async def test_post_larger_than_128_kb_raises_payload_too_large(stack):
    ws, connection_id = await open_client(stack, "u_large")
    async with ws:
        client = management(stack)
        with pytest.raises(client.exceptions.PayloadTooLargeException) as err:
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                    Data=b"x" * (128 * 1024 + 1))
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
