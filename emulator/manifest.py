"""manifest.json: the routes -> functions map that Terraform, the packager and the emulator share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Route:
    key: str
    function: str
    route_response: bool
    authorizer: bool


@dataclass(frozen=True)
class Function:
    name: str
    handler: str  # "handler.lambda_handler": module file stem + attribute
    memory: int
    timeout: float


@dataclass(frozen=True)
class Manifest:
    service: str
    routes: dict[str, Route]
    functions: dict[str, Function]
    authorizer_function: str | None
    token_sources: dict[str, str]  # token source name -> API Gateway identity-source expression
    route_selection_expression: str

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        functions = {
            name: Function(name, spec.get("handler", "handler.lambda_handler"), int(spec.get("memory", 128)),
                           float(spec.get("timeout", 3)))
            for name, spec in raw.get("functions", {}).items()
        }
        routes = {
            key: Route(key, spec["function"], bool(spec.get("routeResponse", False)), bool(spec.get("authorizer", False)))
            for key, spec in raw.get("routes", {}).items()
        }
        for route in routes.values():
            if route.function not in functions:
                raise ValueError(f"manifest: route {route.key!r} names unknown function {route.function!r}")
        auth = raw.get("authorizer") or {}
        auth_fn = auth.get("function")
        if auth_fn and auth_fn not in functions:
            raise ValueError(f"manifest: authorizer names unknown function {auth_fn!r}")
        token_sources = dict(auth.get("tokenSources") or {})
        if any(not str(e).startswith(("route.request.querystring.", "route.request.header.")) for e in
               token_sources.values()):
            raise ValueError("manifest: authorizer.tokenSources must be route.request.querystring|header.* expressions")
        expression = raw.get("routeSelectionExpression", "$request.body.action")
        if not expression.startswith("$request.body."):
            raise ValueError(f"manifest: unsupported routeSelectionExpression {expression!r}")
        return cls(
            service=raw.get("service", "wschat"),
            routes=routes,
            functions=functions,
            authorizer_function=auth_fn,
            token_sources=token_sources,
            route_selection_expression=expression,
        )

    def identity_sources(self, enabled: tuple[str, ...]) -> tuple[str, ...]:
        """The authorizer's identity sources for the enabled token sources, as Terraform sets them:
        one source -> its expression (API Gateway answers 401 without invoking the authorizer when it
        is missing); several -> none, because API Gateway requires every identity source to be
        present (they are ANDed) and a client sends only one: the authorizer answers 401 itself."""
        unknown = [name for name in enabled if name not in self.token_sources]
        if unknown:
            raise ValueError(f"token sources {unknown} are not in manifest.json authorizer.tokenSources")
        return (self.token_sources[enabled[0]],) if len(enabled) == 1 else ()

    @property
    def selection_key(self) -> str:
        """The body field named by ``$request.body.<field>``."""
        return self.route_selection_expression.removeprefix("$request.body.")
