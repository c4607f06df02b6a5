"""The Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations), so the functions' own boto3
``lambda`` client (AWS_ENDPOINT_URL_LAMBDA) reaches the emulator: Event -> 202 and run in the
background, RequestResponse -> 200 with the result (X-Amz-Function-Error on failure). A failed Event
invocation is retried with the same event, as Lambda does (twice by default), then dropped."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.lambda_runtime import Invocation, LambdaRuntime
from emulator.management_api import aws_error

log = logging.getLogger("emulator")


class LambdaApi:
    def __init__(self, runtime: LambdaRuntime, observer: Callable[[Invocation, str | None], None],
                 retry_delays_s: tuple[float, ...] = (1.0, 2.0)) -> None:
        self.runtime = runtime
        self.observer = observer
        self.retry_delays_s = retry_delays_s
        self._background: set[asyncio.Task[Any]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/2015-03-31/functions/{name}/invocations", self.invoke)

    def _function_name(self, raw: str) -> str | None:
        # Accepts a name, a partial ARN ("123:function:name") or a full ARN, optionally ":qualifier".
        name = raw.split(":function:", 1)[1] if ":function:" in raw else raw
        name = name.split(":", 1)[0]
        return name if name in self.runtime.manifest.functions else None

    async def invoke(self, request: web.Request) -> web.Response:
        name = self._function_name(request.match_info["name"])
        if name is None:
            return aws_error(404, "ResourceNotFoundException",
                             f"Function not found: {request.match_info['name']}")
        raw = await request.read()
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            return aws_error(400, "InvalidRequestContentException", "Could not parse request body into json")
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return web.Response(status=204)
        if kind == "Event":
            task = asyncio.get_running_loop().create_task(self._run_async(name, event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202, headers={"X-Amzn-RequestId": self.runtime.new_request_id()})
        inv = await self._run(name, event)
        headers = {"X-Amz-Executed-Version": "$LATEST", "X-Amzn-RequestId": inv.request_id}
        if inv.outcome == "ok":
            return web.Response(status=200, body=json.dumps(inv.result).encode(), headers=headers,
                                content_type="application/json")
        headers["X-Amz-Function-Error"] = "Unhandled"
        payload = {"errorMessage": inv.extra.get("errorMessage", inv.error or ""), "errorType": inv.extra.get("errorType", "Sandbox.Timedout"
                                                                                if inv.outcome == "timeout" else
                                                                                "Runtime.Error")}
        if "stackTrace" in inv.extra:
            payload["stackTrace"] = inv.extra["stackTrace"]
        return web.Response(status=200, body=json.dumps(payload).encode(), headers=headers,
                            content_type="application/json")

    async def _run(self, name: str, event: Any) -> Invocation:
        inv = await self.runtime.invoke(name, event)
        inv.route = "(invoke)"
        inv.status = 200 if inv.outcome == "ok" else 500
        self.observer(inv, None)
        return inv

    async def _run_async(self, name: str, event: Any) -> None:
        for attempt, delay in enumerate((*self.retry_delays_s, None)):
            inv = await self._run(name, event)
            if inv.outcome == "ok":
                return
            if delay is None:
                log.warning("async invocation of %s failed %d times; dropped (no dead-letter queue locally)",
                            name, attempt + 1)
                return
            log.info("async invocation of %s failed (%s); retry %d in %.1fs", name, inv.outcome, attempt + 1, delay)
            await asyncio.sleep(delay)

    async def drain(self, timeout: float) -> None:
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
