"""Handshake, authorizer, route selection, two-way responses and event shapes, with the websockets client."""

from __future__ import annotations

import json

import pytest
import websockets
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.conftest import in_frames, invocation_of, open_client, recv_json, recv_until, ws_url

pytestmark = pytest.mark.e2e


async def test_connect_without_token_is_rejected_with_401(stack):
    # (with both token sources enabled there is no identity source, so the authorizer itself says 401:
    # tests/e2e/test_auth_stacks.py covers the single-source case, where the gateway does)
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(stack.ws_url)
    assert err.value.response.status_code == 401


async def test_connect_with_a_forged_token_is_denied_with_403(stack):
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{stack.ws_url}?token=not.a.jwt")
    assert err.value.response.status_code == 403


async def test_connect_rejected_by_the_connect_function_uses_its_status(stack):
    # GIVEN a room id the $connect function refuses (it answers 400)
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{ws_url(stack, 'u_alice')}&room=%20bad%20room")
    assert err.value.response.status_code == 400


async def test_connect_event_has_aws_shape_and_the_authorizer_context(stack):
    ws, connection_id = await open_client(stack, "u_shape")
    await ws.close()
    inv = await invocation_of(stack, "$connect", connection_id)
    APIGatewayWebSocketConnectEventModel.model_validate(inv.event)
    ctx = inv.event["requestContext"]
    assert ctx["authorizer"]["userId"] == "u_shape" and ctx["authorizer"]["principalId"] == "u_shape"
    assert isinstance(ctx["connectedAt"], int) and ctx["stage"] == "dev" and ctx["eventType"] == "CONNECT"
    assert inv.event["queryStringParameters"]["token"]


async def test_authorizer_gets_the_request_authorizer_event(stack):
    ws, connection_id = await open_client(stack, "u_authz")
    await ws.close()
    inv = await stack.wait_for_invocation(lambda i: i.function == "authorizer" and
                                          i.event["requestContext"]["connectionId"] == connection_id)
    event = inv.event
    assert event["type"] == "REQUEST"
    assert event["methodArn"].startswith("arn:aws:execute-api:us-east-1:") and event["methodArn"].endswith("/dev/$connect")
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
                "stageVariables", "requestContext"):
        assert key in event


async def test_ping_is_routed_by_action_and_its_body_returned_on_a_two_way_route(stack):
    ws, connection_id = await open_client(stack, "u_ping")
    async with ws:
        await ws.send(json.dumps({"action": "ping"}))
        assert (await recv_json(ws))["type"] == "pong"
    inv = await invocation_of(stack, "ping", connection_id)
    APIGatewayWebSocketMessageEventModel.model_validate(inv.event)
    ctx = inv.event["requestContext"]
    assert ctx["routeKey"] == "ping" and ctx["messageId"] and ctx["authorizer"]["userId"] == "u_ping"


async def test_json_with_leading_whitespace_still_selects_its_route(stack):
    ws, _ = await open_client(stack, "u_ws_padding")
    async with ws:
        await ws.send(' \n\t{"action": "ping"}')
        frame = await recv_json(ws)
    assert frame["type"] == "pong"


@pytest.mark.parametrize("body", ["not json", '{"action": "noSuchAction"}', '{"text": "no action"}', "[1, 2]",
                                  '{"action": 42}'])
async def test_missing_unknown_or_non_json_action_goes_to_default(stack, body):
    ws, connection_id = await open_client(stack, "u_default")
    async with ws:
        await ws.send(body)
        frame = await recv_json(ws)
    assert frame["type"] == "error" and "validActions" in frame
    inv = await invocation_of(stack, "$default", connection_id)
    assert inv.event["requestContext"]["routeKey"] == "$default" and inv.event["body"] == body


async def test_binary_frame_closes_with_1003_and_fires_disconnect(stack):
    ws, connection_id = await open_client(stack, "u_binary")
    await ws.send(b"\x00\x01")
    with pytest.raises(ConnectionClosed):
        await recv_json(ws)
    assert ws.close_code == 1003
    inv = await invocation_of(stack, "$disconnect", connection_id)
    assert inv.event["requestContext"]["disconnectStatusCode"] == 1003


async def test_client_close_code_and_reason_reach_disconnect_with_aws_shape(stack):
    ws, connection_id = await open_client(stack, "u_bye")
    await ws.close(code=4000, reason="see you")
    inv = await invocation_of(stack, "$disconnect", connection_id)
    APIGatewayWebSocketDisconnectEventModel.model_validate(inv.event)
    ctx = inv.event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (4000, "see you")
    assert ctx["authorizer"]["userId"] == "u_bye"


async def test_message_of_more_than_128_kb_closes_with_1009(stack):
    ws, connection_id = await open_client(stack, "u_big")
    await ws.send(in_frames(json.dumps({"action": "ping", "pad": "x" * (128 * 1024)})))
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, lambda f: False)
    assert ws.close_code == 1009
    inv = await invocation_of(stack, "$disconnect", connection_id)
    assert inv.event["requestContext"]["disconnectStatusCode"] == 1009


async def test_message_of_exactly_128_kb_is_accepted(stack):
    ws, _ = await open_client(stack, "u_edge")
    async with ws:
        prefix = '{"action": "nope", "pad": "'
        body = prefix + "x" * (128 * 1024 - len(prefix) - 2) + '"}'
        assert len(body.encode()) == 128 * 1024
        await ws.send(in_frames(body))
        assert (await recv_json(ws))["type"] == "error"  # answered by $default: the socket stayed open


@pytest.mark.parametrize("pad", [4096, 30_000])
async def test_connect_url_longer_than_4096_characters_gets_414(stack, pad):
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(f"{ws_url(stack, 'u_long')}&pad={'x' * pad}")
    assert err.value.response.status_code == 414
