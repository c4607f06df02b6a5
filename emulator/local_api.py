"""Local-only endpoints under /_local (they do not exist on AWS): test tokens, fault injection at
runtime, stack info, the demo chat page, the functions' metrics (/_local/metrics page, /_local/metrics.json;
emulator/emf.py), and in oidc mode the built-in identity provider under
/_local/oidc (discovery, JWKS, token endpoint, key rotation). Refused unless the caller is on
loopback."""

from __future__ import annotations

import asyncio
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
        app.router.add_get("/_local/oidc/.well-known/openid-configuration", self.oidc_discovery)
        app.router.add_get("/_local/oidc/jwks.json", self.oidc_jwks)
        app.router.add_route("*", "/_local/oidc/token", self.oidc_token)
        app.router.add_post("/_local/oidc/rotate", self.oidc_rotate)
        app.router.add_delete("/_local/oidc/keys/{kid}", self.oidc_retire)
        app.router.add_get("/_local/metrics", self.metrics_page)
        app.router.add_get("/_local/metrics.json", self.metrics)
        app.router.add_delete("/_local/metrics.json", self.reset_metrics)
        app.router.add_get("/_local/demo", self.demo_redirect)
        app.router.add_get("/", self.demo_redirect)
        app.router.add_static("/_local/demo/", STATIC_DIR, show_index=False)

    async def token(self, request: web.Request) -> web.Response:
        """A token the authorizer accepts, in either mode (oidc: an ID token of the built-in issuer)."""
        user, ttl, error = _user_and_ttl(request.query)
        if error:
            return web.json_response({"message": error}, status=400)
        if self.stack.config.auth_mode == "oidc" and self.stack.issuer is None:
            return web.json_response({"message": "the authorizer trusts an external identity provider "
                                                 f"({self.stack.oidc_issuer_url}): sign in there"}, status=409)
        return web.json_response({"userId": user, "token": self.stack.mint_token(user, ttl_seconds=ttl)})

    # --- the built-in OIDC issuer (oidc mode without --oidc-issuer) ------------------------------------
    def _issuer(self) -> Any:
        if self.stack.issuer is None:
            raise web.HTTPNotFound(text='{"message": "no built-in issuer: start the stack with --auth oidc"}',
                                   content_type="application/json")
        return self.stack.issuer

    async def oidc_discovery(self, request: web.Request) -> web.Response:
        issuer = self._issuer()
        return web.json_response(issuer.discovery(f"{issuer.issuer}/jwks.json", f"{issuer.issuer}/token"))

    async def oidc_jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self._issuer().jwks())

    async def oidc_token(self, request: web.Request) -> web.Response:
        """Tokens for a user, no password (a local stand-in for a sign-in): GET ?user=, or POST a form
        or JSON with ``username`` (or ``user``), optional ``ttl``. Answers like an OAuth token endpoint."""
        issuer = self._issuer()
        fields: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                fields.update(body if isinstance(body, dict) else {})
            else:
                fields.update(await request.post())
        elif request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        fields.setdefault("user", fields.get("username", ""))
        user, ttl, error = _user_and_ttl(fields)
        if error:
            return web.json_response({"error": "invalid_request", "error_description": error}, status=400)
        return web.json_response({
            "token_type": "Bearer", "expires_in": ttl,
            "id_token": issuer.mint(user, ttl_seconds=ttl, token_use="id"),
            "access_token": issuer.mint(user, ttl_seconds=ttl, token_use="access"),
        })

    async def oidc_rotate(self, request: web.Request) -> web.Response:
        issuer = self._issuer()
        previous = issuer.signing_kid
        signing = await asyncio.get_running_loop().run_in_executor(None, issuer.rotate)
        return web.json_response({"signingKid": signing, "previousKid": previous, "kids": issuer.kids})

    async def oidc_retire(self, request: web.Request) -> web.Response:
        issuer = self._issuer()
        try:
            issuer.retire(request.match_info["kid"])
        except KeyError as exc:
            return web.json_response({"message": str(exc.args[0])}, status=404)
        except ValueError as exc:
            return web.json_response({"message": str(exc)}, status=409)
        return web.json_response({"signingKid": issuer.signing_kid, "kids": issuer.kids})

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

    async def metrics(self, request: web.Request) -> web.Response:
        """What the functions printed as EMF, aggregated as CloudWatch aggregates it (emulator/emf.py)."""
        return web.json_response(self.stack.metrics.snapshot())

    async def reset_metrics(self, request: web.Request) -> web.Response:
        self.stack.metrics.reset()
        return web.json_response(self.stack.metrics.snapshot())

    async def metrics_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "metrics.html")

    async def demo_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/_local/demo/index.html")


def _user_and_ttl(fields: Any) -> tuple[str, int, str | None]:
    user = str(fields.get("user", ""))
    if not USER_ID.match(user):
        return user, 0, "user must match [A-Za-z0-9_.@-]{1,64}"
    try:
        ttl = int(fields.get("ttl", "3600"))
    except (TypeError, ValueError):
        return user, 0, "ttl must be a whole number of seconds"
    if not 1 <= ttl <= 86_400:
        return user, 0, "ttl must be between 1 and 86400 seconds"
    return user, ttl, None
