"""The WebSocket side of API Gateway: handshake + authorizer + $connect, route selection, quotas,
two-way route responses, gateway error frames and $disconnect."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from emulator import events
from emulator.authorizer import decide, identity_present
from emulator.config import TOKEN_SOURCES, Quotas
from emulator.connections import Connection, ConnectionRegistry
from emulator.frame_limit import QuotaWebSocketResponse
from emulator.ids import random_id
from emulator.lambda_runtime import Invocation, LambdaRuntime
from emulator.quotas import TokenBucket
from manifest import CONNECT, DEFAULT, DISCONNECT, Manifest, Route

log = logging.getLogger("emulator")


class _NoOfferedSubprotocols(logging.Filter):
    """aiohttp warns with the client's whole Sec-WebSocket-Protocol list when it selects none itself
    (the gateway leaves the choice to $connect, as API Gateway does): that list carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Client protocols" not in str(record.msg)


logging.getLogger("aiohttp.websocket").addFilter(_NoOfferedSubprotocols())

InvocationObserver = Callable[[Invocation, str | None], None]

# Close codes/reasons the gateway uses (reasons of 1001/1009/1003 as AWS words them where known).
GOING_AWAY = (1001, "Going away")
MESSAGE_TOO_BIG = (1009, "Message too big")
UNSUPPORTED_DATA = (1003, "Binary frames are not supported")
NO_STATUS = (1005, "Client-side close frame status not set")
ABNORMAL = (1006, "Connection closed abnormally")
DELETED = (1000, "Connection deleted by the @connections API")
HOP_HEADERS = {"connection", "upgrade"}
SUBPROTOCOL_HEADER = "Sec-WebSocket-Protocol"


class Gateway:
    def __init__(self, *, manifest: Manifest, runtime: LambdaRuntime, quotas: Quotas, stage: str, region: str,
                 account_id: str, api_id: str, observer: InvocationObserver,
                 token_sources: tuple[str, ...] = TOKEN_SOURCES) -> None:
        self.manifest = manifest
        # Header names are case-insensitive: compare them lower-cased, as API Gateway does.
        self.identity_sources = tuple(s.lower() if s.startswith("route.request.header.") else s
                                      for s in manifest.authorizer.identity_sources(token_sources))
        self.runtime = runtime
        self.quotas = quotas
        self.stage = stage
        self.region = region
        self.account_id = account_id
        self.api_id = api_id
        self.observer = observer
        self.connections = ConnectionRegistry()
        self.stage_bucket = TokenBucket(quotas.throttling_rate_limit, quotas.throttling_burst_limit)
        self.connect_bucket = TokenBucket(quotas.new_connections_per_second,
                                          max(1.0, quotas.new_connections_per_second))
        self.selection_key = manifest.selection_key
        self._tasks: set[asyncio.Task[Any]] = set()
        self._routes = {k: r for k, r in manifest.routes.items() if k not in (CONNECT, DISCONNECT)}
        self._default = manifest.routes.get(DEFAULT)
        self._method_arn = f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/$connect"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"/{self.stage}", self.handle)
        app.router.add_get(f"/{self.stage}/", self.handle)

    # --- handshake ---------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        url_chars = len("wss://") + len(request.host) + len(request.raw_path)
        if url_chars > self.quotas.max_url_chars:
            return _reject(414, "Request-URI Too Long")
        # aiohttp refuses messages >= max_msg_size; AWS accepts exactly 128 KB, in frames of up to 32 KB
        ws = QuotaWebSocketResponse(max_frame_size=self.quotas.max_frame_bytes,
                                    max_msg_size=self.quotas.max_message_bytes + 1, compress=False, autoping=True,
                                    autoclose=True)
        if not ws.can_prepare(request).ok:
            return _reject(426, "Upgrade Required")
        if not self.connect_bucket.take() or not self.stage_bucket.take():
            return _reject(429, "Too Many Requests")

        loop = asyncio.get_running_loop()
        connected_at = time.time()
        connection_id = random_id()
        source_ip = request.remote or "127.0.0.1"
        user_agent = request.headers.get("User-Agent")
        base = events.base_context(connection_id=connection_id, connected_at_ms=int(connected_at * 1000),
                                   domain_name=request.host, stage=self.stage, api_id=self.api_id,
                                   source_ip=source_ip, user_agent=user_agent)
        headers, multi_headers = _headers(request, source_ip)
        query = {k: v for k, v in request.query.items()}
        multi_query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            multi_query.setdefault(k, []).append(v)

        connect_route = self.manifest.routes.get(CONNECT)
        authorizer_ctx: dict[str, Any] | None = None
        if connect_route is not None and connect_route.authorizer:
            status, authorizer_ctx = await self._authorize(base, headers, multi_headers, query, multi_query,
                                                           connection_id)
            if status != 200:
                return _reject(status, {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal server error"))

        if connect_route is not None:
            hop_free = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
            event = events.connect_event(base, request_id=random_id(), headers=hop_free,
                                         multi_headers={k: multi_headers[k] for k in hop_free},
                                         query=query, multi_query=multi_query, authorizer=authorizer_ctx)
            inv = await self._invoke(connect_route, event, connection_id)
            status = inv.status or 500
            if status >= 400:
                return _reject(status, "Forbidden" if status == 403 else "Internal server error"
                               if status >= 500 else "Rejected by $connect")
            # The $connect integration's Sec-WebSocket-Protocol header becomes the handshake's selected
            # subprotocol, as is (API Gateway neither picks one itself nor checks it was offered).
            selected = _response_header(inv.result, SUBPROTOCOL_HEADER)
            if selected is not None:
                ws.headers[SUBPROTOCOL_HEADER] = selected

        conn = Connection(connection_id, ws, base, authorizer_ctx, source_ip=source_ip, user_agent=user_agent,
                          host=request.host, connected_at_epoch=connected_at, connected_at_mono=loop.time())
        try:
            await ws.prepare(request)
        except (ConnectionError, RuntimeError):  # the client left while $connect ran: $connect did register it
            conn.close_code, conn.close_reason = ABNORMAL
            await self._disconnect(conn)
            return ws
        self.connections.add(conn)
        self._arm_timers(conn, loop)
        try:
            await self._receive_loop(conn)
        finally:
            await self._disconnect(conn)
        return ws

    async def _authorize(self, base: dict[str, Any], headers: dict[str, str],
                         multi_headers: dict[str, list[str]], query: dict[str, str],
                         multi_query: dict[str, list[str]], connection_id: str) -> tuple[int, dict[str, Any] | None]:
        lower_headers = {k.lower(): v for k, v in headers.items()}
        if not identity_present(self.identity_sources, query, lower_headers):
            return 401, None
        name = self.manifest.authorizer.function
        event = events.authorizer_event(base, method_arn=self._method_arn, request_id=random_id(),
                                        headers=headers, multi_headers=multi_headers, query=query,
                                        multi_query=multi_query, stage_variables={})
        inv = await self.runtime.invoke(name, event, gateway_timeout_s=self.quotas.integration_timeout_s)
        inv.route = "$connect:authorizer"
        if inv.outcome == "ok":
            decision = decide(inv.result, self._method_arn, self.quotas.max_authorizer_context_bytes,
                              int(inv.duration_ms))
            inv.status = decision.status
            self.observer(inv, connection_id)
            return decision.status, decision.context
        unauthorized = inv.outcome == "error" and inv.extra.get("errorMessage") == "Unauthorized"
        inv.status = 401 if unauthorized else 500
        self.observer(inv, connection_id)
        return inv.status, None

    # --- messages ----------------------------------------------------------------------------
    async def _receive_loop(self, conn: Connection) -> None:
        ws = conn.ws
        loop = asyncio.get_running_loop()
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                conn.last_active_mono = loop.time()
                task = loop.create_task(self._route_message(conn, msg.data))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif kind is WSMsgType.BINARY:
                await self.close(conn, *UNSUPPORTED_DATA)
                return
            elif kind is WSMsgType.CLOSE:
                if conn.close_code is None:
                    code = int(msg.data or 0)
                    conn.close_code, conn.close_reason = (code, msg.extra or "") if code else NO_STATUS
                return
            elif kind is WSMsgType.ERROR:
                if conn.close_code is None:
                    code = int(getattr(msg.data, "code", 0) or ws.close_code or ABNORMAL[0])
                    conn.close_code, conn.close_reason = MESSAGE_TOO_BIG if code == 1009 else (code, "Going away")
                return
            else:  # CLOSING / CLOSED: the gateway closed it, or the peer vanished without a close frame
                if conn.close_code is None:
                    conn.close_code, conn.close_reason = ABNORMAL
                return

    def select_route(self, body: str) -> Route | None:
        action = None
        if body.lstrip(" \t\r\n")[:1] == "{":  # JSON may start with whitespace
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                action = parsed.get(self.selection_key)
        if isinstance(action, str):
            route = self._routes.get(action)
            if route is not None:
                return route
        return self._default

    async def _route_message(self, conn: Connection, body: str) -> None:
        if not self.stage_bucket.take():
            await self._send_gateway_frame(conn, "Too Many Requests", random_id())
            return
        route = self.select_route(body)
        request_id = random_id()
        if route is None:
            await self._send_gateway_frame(conn, "Forbidden", request_id)
            return
        event = events.message_event(conn.base_context, route_key=route.key, request_id=request_id, body=body,
                                     authorizer=conn.authorizer)
        inv = await self._invoke(route, event, conn.id)
        if inv.outcome != "ok":
            await self._send_gateway_frame(conn, "Internal server error", request_id)
            return
        if route.route_response:
            result = inv.result
            reply = result.get("body") if isinstance(result, dict) else None
            if reply is not None:
                await _send(conn, reply if isinstance(reply, str) else json.dumps(reply))

    async def _invoke(self, route: Route, event: dict[str, Any], connection_id: str) -> Invocation:
        inv = await self.runtime.invoke(route.function, event, gateway_timeout_s=self.quotas.integration_timeout_s)
        inv.route = route.key
        if inv.outcome == "ok":
            result = inv.result
            status = result.get("statusCode", 200) if isinstance(result, dict) else 200
            inv.status = int(status) if isinstance(status, int | str) and str(status).isdigit() else 200
        else:
            inv.status = 504 if inv.outcome == "timeout" else 500
        self.observer(inv, connection_id)
        return inv

    async def _send_gateway_frame(self, conn: Connection, message: str, request_id: str) -> None:
        await _send(conn, json.dumps({"message": message, "connectionId": conn.id, "requestId": request_id}))

    # --- closing -----------------------------------------------------------------------------
    def _arm_timers(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        conn.idle_timer = loop.call_later(self.quotas.idle_timeout_s, self._idle_check, conn)
        conn.max_timer = loop.call_later(self.quotas.max_connection_s, self._expire, conn)

    def _idle_check(self, conn: Connection) -> None:
        # One timer per connection, re-armed lazily: the message hot path only stores a timestamp.
        if conn.closing:
            return
        loop = asyncio.get_running_loop()
        idle_for = loop.time() - conn.last_active_mono
        if idle_for >= self.quotas.idle_timeout_s:
            self._spawn(self.close(conn, *GOING_AWAY))
        else:
            conn.idle_timer = loop.call_later(self.quotas.idle_timeout_s - idle_for, self._idle_check, conn)

    def _expire(self, conn: Connection) -> None:
        if not conn.closing:
            self._spawn(self.close(conn, *GOING_AWAY))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, conn: Connection, code: int, reason: str) -> None:
        """Gateway-initiated close (idle, max age, DELETE @connections, too big, binary, shutdown)."""
        if conn.closing:
            return
        conn.closing = True
        if conn.close_code is None:
            conn.close_code, conn.close_reason = code, reason
        try:
            await conn.ws.close(code=code, message=reason.encode())
        except Exception as exc:  # noqa: BLE001 - the peer may already be gone
            log.debug("close of %s failed: %s", conn.id, exc)

    async def _disconnect(self, conn: Connection) -> None:
        conn.closing = True
        conn.cancel_timers()
        self.connections.remove(conn.id)
        route = self.manifest.routes.get(DISCONNECT)
        if route is None:
            return
        code, reason = (conn.close_code, conn.close_reason) if conn.close_code is not None else ABNORMAL
        event = events.disconnect_event(conn.base_context, request_id=random_id(), host=conn.host,
                                        status_code=code, reason=reason, authorizer=conn.authorizer)
        await self._invoke(route, event, conn.id)

    async def close_all(self, timeout: float = 5.0) -> None:
        for conn in self.connections.all():
            self._spawn(self.close(conn, *GOING_AWAY))
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)


async def _send(conn: Connection, text: str) -> None:
    if conn.closing or conn.ws.closed:
        return
    try:
        await conn.ws.send_str(text)
    except (ConnectionError, RuntimeError) as exc:
        log.debug("send to %s failed: %s", conn.id, exc)


def _response_header(result: Any, name: str) -> str | None:
    headers = result.get("headers") if isinstance(result, dict) else None
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name.lower() and isinstance(value, str) and value:
            return value
    return None


def _reject(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _headers(request: web.Request, source_ip: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        headers[key] = value
        multi.setdefault(key, []).append(value)
    port = str(request.url.port or 80)
    for key, value in (("X-Forwarded-For", source_ip), ("X-Forwarded-Port", port), ("X-Forwarded-Proto", "http"),
                       ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")):
        if key not in headers:
            headers[key] = value
            multi[key] = [value]
    return headers, multi
