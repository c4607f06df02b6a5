"""The local stack's local-only endpoints (docs/local-stack.md): info, test tokens, fault injection."""

from __future__ import annotations

from typing import Any

import aiohttp


class StackControl:
    """``async with StackControl(base_url) as control: await control.set_faults({...})``"""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StackControl:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self._session is not None, "use StackControl as an async context manager"
        async with self._session.request(method, f"{self.base_url}{path}", **kwargs) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def info(self) -> dict[str, Any]:
        return dict(await self._json("GET", "/_local/info"))

    async def token(self, user: str, ttl_s: int = 7200) -> str:
        return str((await self._json("GET", "/_local/token", params={"user": user, "ttl": str(ttl_s)}))["token"])

    async def set_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._json("POST", "/_local/faults", json=changes))
