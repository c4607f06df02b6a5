"""Local-only endpoints under /_local (they do not exist on AWS): test tokens, fault injection at
runtime, stack info, and the demo chat page. Refused unless the caller is on loopback."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.faults import Faults

STATIC_DIR = Path(__file__).parent / "static"
USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@web.middleware
async def loopback_only(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path.startswith("/_local"):
        try:
            local = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            local = False
        if not local:
            return web.json_response({"message": "local-only endpoint"}, status=403)
    return await handler(request)


class LocalApi:
    def __init__(self, stack: Any) -> None:
        self.stack = stack  # emulator.stack.LocalStack (typed loosely to avoid an import cycle)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_local/token", self.token)
        app.router.add_get("/_local/faults", self.get_faults)
        app.router.add_post("/_local/faults", self.set_faults)
        app.router.add_get("/_local/info", self.info)
        app.router.add_get("/_local/demo", self.demo_redirect)
        app.router.add_get("/", self.demo_redirect)
        app.router.add_static("/_local/demo/", STATIC_DIR, show_index=False)

    async def token(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "")
        if not USER_ID.match(user):
            return web.json_response({"message": "query parameter user must match [A-Za-z0-9_.@-]{1,64}"},
                                     status=400)
        ttl = int(request.query.get("ttl", "3600"))
        return web.json_response({"userId": user, "token": self.stack.mint_token(user, ttl_seconds=ttl)})

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.stack.faults.to_dict())

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("body must be a JSON object")
            faults: Faults = self.stack.faults.updated(changes)
        except ValueError as exc:
            return web.json_response({"message": str(exc)}, status=400)
        self.stack.set_faults(faults)
        return web.json_response(faults.to_dict())

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(self.stack.info())

    async def demo_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/_local/demo/index.html")
