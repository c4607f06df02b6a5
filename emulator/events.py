"""Lambda proxy events with API Gateway's exact WebSocket shapes.

Reference shapes: AWS Lambda Powertools' APIGatewayWebSocket{Connect,Message,Disconnect}EventModel
and AWS's sample events (tests/e2e validates every event the stack builds against those models).
The per-connection part of requestContext is built once at connect time and copied per message.
"""

from __future__ import annotations

import time
from typing import Any

from emulator.ids import random_id

_request_time_cache: tuple[int, str] = (0, "")


def request_time(now: float) -> str:
    """``11/Nov/2024:13:51:49 +0000`` (cached per second: this is on the hot path)."""
    global _request_time_cache
    second = int(now)
    if _request_time_cache[0] != second:
        _request_time_cache = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return _request_time_cache[1]


def base_context(*, connection_id: str, connected_at_ms: int, domain_name: str, stage: str, api_id: str,
                 source_ip: str, user_agent: str | None) -> dict[str, Any]:
    identity: dict[str, Any] = {"sourceIp": source_ip}
    if user_agent:
        identity["userAgent"] = user_agent
    return {
        "stage": stage,
        "connectedAt": connected_at_ms,
        "identity": identity,
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": api_id,
        "messageDirection": "IN",
    }


def _context(base: dict[str, Any], route_key: str, event_type: str, request_id: str,
             authorizer: dict[str, Any] | None) -> dict[str, Any]:
    now = time.time()
    ctx = dict(base)
    ctx["routeKey"] = route_key
    ctx["eventType"] = event_type
    ctx["extendedRequestId"] = request_id
    ctx["requestId"] = request_id
    ctx["requestTime"] = request_time(now)
    ctx["requestTimeEpoch"] = int(now * 1000)
    if authorizer is not None:
        ctx["authorizer"] = authorizer
    return ctx


def connect_event(base: dict[str, Any], *, request_id: str, headers: dict[str, str],
                  multi_headers: dict[str, list[str]], query: dict[str, str],
                  multi_query: dict[str, list[str]], authorizer: dict[str, Any] | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": _context(base, "$connect", "CONNECT", request_id, authorizer),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    return event


def authorizer_event(base: dict[str, Any], *, method_arn: str, request_id: str, headers: dict[str, str],
                     multi_headers: dict[str, list[str]], query: dict[str, str],
                     multi_query: dict[str, list[str]], stage_variables: dict[str, str]) -> dict[str, Any]:
    """The REQUEST authorizer event for a WebSocket $connect."""
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": stage_variables,
        "requestContext": _context(base, "$connect", "CONNECT", request_id, None),
    }


def message_event(base: dict[str, Any], *, route_key: str, request_id: str, body: str,
                  authorizer: dict[str, Any] | None) -> dict[str, Any]:
    ctx = _context(base, route_key, "MESSAGE", request_id, authorizer)
    ctx["messageId"] = random_id()
    return {"requestContext": ctx, "body": body, "isBase64Encoded": False}


def disconnect_event(base: dict[str, Any], *, request_id: str, host: str, status_code: int, reason: str,
                     authorizer: dict[str, Any] | None) -> dict[str, Any]:
    ctx = _context(base, "$disconnect", "DISCONNECT", request_id, authorizer)
    ctx["disconnectStatusCode"] = status_code
    ctx["disconnectReason"] = reason
    # AWS sends these four headers on $disconnect (see Powertools' sample event).
    headers = {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": ctx,
        "isBase64Encoded": False,
    }
