"""A small HTTP proxy in front of the embedded DynamoDB that answers data-plane calls with
ProvisionedThroughputExceededException at a configurable rate (fault injection).

It runs on its own thread and event loop so DynamoDB traffic never competes with the gateway's loop.
Control-plane calls (CreateTable, DescribeTable, ...) are never throttled.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import aiohttp
from aiohttp import web

from emulator.faults import FaultInjector

DATA_PLANE = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
})
THROTTLED_BODY = json.dumps({
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded. "
               "Consider increasing your provisioning level with the UpdateTable API.",
}).encode()
_SKIP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})


class DynamoDBFaultProxy:
    def __init__(self, upstream: str, faults: FaultInjector, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = faults
        self.host = host
        self.endpoint = ""
        self.throttled = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> str:
        sock = socket.socket()
        sock.bind((self.host, 0))
        self.endpoint = f"http://{self.host}:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, args=(sock,), name="dynamodb-fault-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"DynamoDB fault proxy failed to start: {self._error}")
        return self.endpoint

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self, sock: socket.socket) -> None:
        self._stop = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            self._session = session
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self.forward)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.SockSite(runner, sock)
            await site.start()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

    async def forward(self, request: web.Request) -> web.Response:
        """Every request: an injected throttle, or the upstream answer (subclasses extend this)."""
        target = request.headers.get("X-Amz-Target", "")
        if target.rpartition(".")[2] in DATA_PLANE and self.faults.dynamodb_throttled():
            self.throttled += 1
            return web.Response(status=400, body=THROTTLED_BODY, content_type="application/x-amz-json-1.0")
        return await self.send(request, await request.read())

    async def send(self, request: web.Request, body: bytes) -> web.Response:
        """``request`` with ``body`` to DynamoDB; its answer (a subclass may send a changed body)."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS}
        async with self._session.request(request.method, self.upstream + request.rel_url.raw_path_qs,
                                         data=body, headers=headers) as resp:
            payload = await resp.read()
            out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _SKIP_HEADERS}
            return web.Response(status=resp.status, body=payload, headers=out_headers)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
