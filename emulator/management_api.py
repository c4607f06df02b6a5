"""The @connections management API (apigatewaymanagementapi) on the stage path, with AWS's wire format
for errors (rest-json: ``x-amzn-ErrorType`` header + JSON body), so stock boto3 raises ClientError with
code GoneException / PayloadTooLargeException / LimitExceededException / ForbiddenException."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiohttp import web

from emulator.config import Quotas
from emulator.connections import Connection
from emulator.faults import POST_ERROR_CODES, FaultInjector
from emulator.gateway import DELETED, Gateway
from emulator.quotas import TokenBucket


def aws_error(status: int, code: str, message: str | None = None) -> web.Response:
    body = json.dumps({"message": message}).encode()
    return web.Response(status=status, body=body, content_type="application/json",
                        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


class ManagementApi:
    def __init__(self, gateway: Gateway, quotas: Quotas, faults: FaultInjector) -> None:
        self.gateway = gateway
        self.quotas = quotas
        self.faults = faults
        self.bucket = TokenBucket(quotas.account_rate_limit, quotas.account_burst_limit)
        self.posts = 0  # counters for the banner/benchmarks (no per-post I/O)

    def add_routes(self, app: web.Application) -> None:
        path = f"/{self.gateway.stage}/@connections/{{connection_id}}"
        app.router.add_post(path, self.post)
        app.router.add_get(path, self.get)
        app.router.add_delete(path, self.delete)

    def _lookup(self, request: web.Request) -> Connection | web.Response:
        if not self.bucket.take():
            return aws_error(429, "LimitExceededException", "Rate exceeded")
        conn = self.gateway.connections.get(request.match_info["connection_id"])
        if conn is None:
            return aws_error(410, "GoneException")
        return conn

    async def post(self, request: web.Request) -> web.Response:
        faults = self.faults.faults
        if faults.post_latency_ms:
            await asyncio.sleep(faults.post_latency_ms / 1000.0)
        injected = self.faults.post_error()
        if injected is not None:
            return aws_error(injected, POST_ERROR_CODES[injected], "injected fault")
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        data = await request.read()
        if len(data) > self.quotas.max_message_bytes:
            return aws_error(413, "PayloadTooLargeException", "Message too long")
        self.posts += 1
        ws = found.ws
        try:
            try:
                await ws.send_str(data.decode())
            except UnicodeDecodeError:
                await ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return aws_error(410, "GoneException")
        return web.Response(status=200, content_type="application/json", body=b"{}")

    async def get(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        # rest-json wire names (botocore maps them to ConnectedAt / Identity / LastActiveAt)
        identity = {"sourceIp": found.source_ip}
        if found.user_agent:
            identity["userAgent"] = found.user_agent
        return web.json_response({
            "connectedAt": _iso(found.connected_at_epoch),
            "identity": identity,
            "lastActiveAt": _iso(found.last_active_epoch()),
        })

    async def delete(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        await self.gateway.close(found, *DELETED)
        return web.Response(status=204)
