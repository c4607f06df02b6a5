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
    identity_sources: tuple[str, ...]
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
        expression = raw.get("routeSelectionExpression", "$request.body.action")
        if not expression.startswith("$request.body."):
            raise ValueError(f"manifest: unsupported routeSelectionExpression {expression!r}")
        return cls(
            service=raw.get("service", "wschat"),
            routes=routes,
            functions=functions,
            authorizer_function=auth_fn,
            identity_sources=tuple(auth.get("identitySource", ())),
            route_selection_expression=expression,
        )

    @property
    def selection_key(self) -> str:
        """The body field named by ``$request.body.<field>``."""
        return self.route_selection_expression.removeprefix("$request.body.")
