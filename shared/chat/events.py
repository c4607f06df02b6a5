"""Reading API Gateway WebSocket Lambda-proxy events (shapes as in AWS Lambda Powertools'
APIGatewayWebSocket*EventModel; fixtures in tests/fixtures/)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat.errors import BadRequest, Forbidden, PayloadTooLarge
from chat.protocol import MAX_FRAME_BYTES, SUBPROTOCOL_HEADER


@dataclass(frozen=True)
class Caller:
    """Who sent this event: the connection and the user the authorizer vouched for."""

    connection_id: str
    user_id: str | None
    route: str
    request_id: str | None
    api_id: str | None
    stage: str | None
    domain_name: str | None
    connected_at: int | None
    source_ip: str | None
    user_agent: str | None

    def require_user(self) -> str:
        if not self.user_id:
            raise Forbidden("no authorizer identity on this connection")
        return self.user_id


def caller_of(event: Mapping[str, Any]) -> Caller:
    ctx = event.get("requestContext") if isinstance(event, Mapping) else None
    if not isinstance(ctx, Mapping) or not isinstance(ctx.get("connectionId"), str):
        raise BadRequest("not an API Gateway WebSocket event (requestContext.connectionId missing)")
    identity = ctx.get("identity") if isinstance(ctx.get("identity"), Mapping) else {}
    return Caller(
        connection_id=ctx["connectionId"],
        user_id=_user_from_authorizer(ctx.get("authorizer")),
        route=str(ctx.get("routeKey") or ""),
        request_id=_str_or_none(ctx.get("requestId")),
        api_id=_str_or_none(ctx.get("apiId")),
        stage=_str_or_none(ctx.get("stage")),
        domain_name=_str_or_none(ctx.get("domainName")),
        connected_at=ctx.get("connectedAt") if isinstance(ctx.get("connectedAt"), int) else None,
        source_ip=_str_or_none(identity.get("sourceIp")),
        user_agent=_str_or_none(identity.get("userAgent")),
    )


def _user_from_authorizer(authorizer: Any) -> str | None:
    if not isinstance(authorizer, Mapping):
        return None
    user = authorizer.get("userId") or authorizer.get("principalId")
    return user if isinstance(user, str) and user else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def json_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """The MESSAGE event's body as a JSON object; BadRequest for anything else."""
    raw = event.get("body")
    if raw is None:
        raise BadRequest("the message has no body")
    if not isinstance(raw, str):
        raise BadRequest("the message body must be text")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("the message body is not valid base64-encoded UTF-8") from None
    if len(raw.encode("utf-8", errors="surrogatepass")) > MAX_FRAME_BYTES:
        raise PayloadTooLarge(f"the message exceeds {MAX_FRAME_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the message body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the message body must be a JSON object")
    return body


def header_values(event: Mapping[str, Any], name: str) -> list[str]:
    """Every value of a request header (names are case-insensitive; repeated headers arrive in
    multiValueHeaders)."""
    wanted = name.lower()
    for field in ("multiValueHeaders", "headers"):
        headers = event.get(field)
        if not isinstance(headers, Mapping):
            continue
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                values = value if isinstance(value, list) else [value]
                return [v for v in values if isinstance(v, str)]
    return []


def offered_subprotocols(event: Mapping[str, Any]) -> list[str]:
    """The subprotocols the client offered in Sec-WebSocket-Protocol, in its order."""
    return [p.strip() for value in header_values(event, SUBPROTOCOL_HEADER) for p in value.split(",") if p.strip()]


def query_param(event: Mapping[str, Any], name: str) -> str | None:
    params = event.get("queryStringParameters")
    if not isinstance(params, Mapping):
        return None
    value = params.get(name)
    return value if isinstance(value, str) else None


def disconnect_details(event: Mapping[str, Any]) -> tuple[int | None, str | None]:
    ctx = event.get("requestContext") or {}
    code = ctx.get("disconnectStatusCode")
    reason = ctx.get("disconnectReason")
    return (code if isinstance(code, int) else None, reason if isinstance(reason, str) else None)
