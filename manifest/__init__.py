"""manifest.json, read and validated once: the routes, the functions, their roles and permissions.

Every Python reader (the packager and deploy tools, the emulator, the benchmarks, the load test and
the tests) gets the manifest from here; Terraform's ``jsondecode(file(...))`` in terraform/main.tf is
the only other reader. Standard library only, so that any tool can import it without the venv.

    from manifest import load_manifest
    m = load_manifest()              # <repo>/manifest.json; or load_manifest(root) / load_manifest(path)
    m.routes["ping"].function        # "ping"
    m.fanout_worker                  # the continuation worker's function name (a role, not a literal)
    m.client_actions                 # ("broadcast", "getHistory", ...): what $default lists as valid

Defaults are exactly Terraform's module variable defaults (``optional(..., default)`` in
terraform/modules/*/variables.tf); everything Terraform requires is required here too. Unknown keys
are refused (Terraform would drop them silently: a typo such as ``routeRespones`` would be lost), and
so are the values the modules' validations refuse, so a bad manifest fails in ``make build`` or at
the emulator's start with the entry named, not at ``terraform apply``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

FILE_NAME = "manifest.json"
REPO_ROOT = Path(__file__).resolve().parent.parent
CONNECT, DISCONNECT, DEFAULT = "$connect", "$disconnect", "$default"

# Bounds the Terraform modules validate (terraform/modules/functions and websocket_api variables.tf);
# tests/terraform/test_manifest_parity.py checks that both refuse the same manifests.
MEMORY_MB = (128, 10240)
TIMEOUT_S = (1, 900)
MANAGE_METHODS = ("POST", "GET", "DELETE")
MAX_ROUTES = 300
RUNTIME = re.compile(r"^python3\.[0-9]+$")
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*\.[A-Za-z_][A-Za-z0-9_]*$")
SELECTION = re.compile(r"^\$request\.body\.([A-Za-z_][A-Za-z0-9_]*)$")


class ManifestError(ValueError):
    """The manifest is not valid; the message names the file and the entry (``functions.ping.memory``)."""


@dataclass(frozen=True)
class DynamoGrant:
    table: str
    actions: tuple[str, ...]
    indexes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Permissions:
    dynamodb: tuple[DynamoGrant, ...]
    manage_connections: tuple[str, ...]  # HTTP methods on @connections: POST, GET, DELETE
    invoke: tuple[str, ...]  # manifest functions this one may invoke
    jwt_secret: bool = False

    def dynamodb_grants(self) -> frozenset[tuple[str, str, str | None]]:
        """(action, table, index or None) for every table grant, and for each listed index of it."""
        out = set()
        for grant in self.dynamodb:
            for action in grant.actions:
                out.add((action, grant.table, None))
                out.update((action, grant.table, index) for index in grant.indexes)
        return frozenset(out)


@dataclass(frozen=True)
class Function:
    name: str
    handler: str  # "<module path>.<attribute>", e.g. "handler.lambda_handler"
    memory: int  # MB
    timeout: float  # seconds
    permissions: Permissions
    description: str = ""

    @property
    def handler_file(self) -> str:
        """The handler's file, relative to functions/<name>/ (``handler.py``)."""
        return self.handler.rpartition(".")[0].replace(".", "/") + ".py"

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Route:
    key: str
    function: str
    route_response: bool = False  # two-way: the function's body is sent back to the caller
    authorizer: bool = False  # the REQUEST authorizer guards it ($connect only)

    @property
    def is_client_action(self) -> bool:
        """A custom route: an action clients send (not $connect, $disconnect or $default)."""
        return not self.key.startswith("$")


TOKEN_SOURCE_EXPRESSION = re.compile(r"^route\.request\.(querystring|header)\.[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Authorizer:
    function: str
    token_sources: Mapping[str, str]  # token source name (query, subprotocol) -> identity-source expression

    def identity_sources(self, enabled: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The authorizer's identity sources for the enabled token sources, as Terraform sets them:
        one source -> its expression (API Gateway answers 401 without invoking the authorizer when it
        is missing); several -> none, because API Gateway requires every identity source to be
        present (they are ANDed) and a client sends only one: the authorizer answers 401 itself."""
        unknown = [name for name in enabled if name not in self.token_sources]
        if unknown:
            raise ManifestError(f"token sources {unknown} are not in manifest.json authorizer.tokenSources")
        return (self.token_sources[enabled[0]],) if len(enabled) == 1 else ()


@dataclass(frozen=True)
class Manifest:
    path: Path
    service: str
    runtime: str
    route_selection_expression: str
    routes: Mapping[str, Route]
    functions: Mapping[str, Function]
    authorizer: Authorizer
    fanout_worker: str  # the function that continues a fan-out (FANOUT_FUNCTION_NAME)
    raw: Mapping[str, Any]  # the validated JSON document, for Terraform-shaped test inputs

    @property
    def selection_key(self) -> str:
        """The body field of ``$request.body.<field>`` that selects the route."""
        match = SELECTION.match(self.route_selection_expression)
        assert match is not None  # checked by parse()
        return match.group(1)

    @property
    def client_actions(self) -> tuple[str, ...]:
        """Every action a client may send (the custom routes), sorted: Terraform sees the routes as a
        map with sorted keys, so this is the order it hands to the functions (CLIENT_ACTIONS)."""
        return tuple(sorted(key for key, route in self.routes.items() if route.is_client_action))

    @property
    def message_functions(self) -> tuple[str, ...]:
        """Functions that receive client frames (routes other than $connect and $disconnect), sorted."""
        return tuple(sorted({r.function for r in self.routes.values() if r.key not in (CONNECT, DISCONNECT)}))

    def route_of(self, function: str) -> Route | None:
        """The first route (in manifest order) served by ``function``, if any."""
        return next((r for r in self.routes.values() if r.function == function), None)

    def document(self) -> dict[str, Any]:
        """A deep copy of the JSON document (to build a variant manifest, e.g. in a test)."""
        return copy.deepcopy(dict(self.raw))


def manifest_path(root: Path = REPO_ROOT) -> Path:
    return Path(root) / FILE_NAME


def load_manifest(location: Path | str = REPO_ROOT) -> Manifest:
    """The manifest of a repository root (or of a manifest file), validated; ManifestError if invalid."""
    path = Path(location)
    if path.is_dir():
        path = manifest_path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    return parse(raw, path)


def parse(raw: Any, path: Path | str = FILE_NAME) -> Manifest:
    """Validates a decoded manifest document; every error names the offending entry."""
    path = Path(path)
    where = _Where(path.name)
    doc = where.obj(raw, "", required={"service", "runtime", "routeSelectionExpression", "authorizer",
                                        "fanoutWorker", "routes", "functions"})
    functions_raw = where.obj(doc["functions"], "functions", non_empty=True)
    names = set(functions_raw)
    for name in functions_raw:
        if not FUNCTION_NAME.match(name):
            where.fail(f"functions.{name}", "function names are 1-64 letters, digits, '_' or '-'")
    functions = {name: _function(where, name, spec, names) for name, spec in functions_raw.items()}

    routes_raw = where.obj(doc["routes"], "routes", non_empty=True)
    if len(routes_raw) > MAX_ROUTES:
        where.fail("routes", f"API Gateway allows at most {MAX_ROUTES} routes per API, got {len(routes_raw)}")
    routes = {key: _route(where, key, spec, names) for key, spec in routes_raw.items()}

    auth = where.obj(doc["authorizer"], "authorizer", required={"function", "tokenSources"})
    sources = where.obj(auth["tokenSources"], "authorizer.tokenSources", non_empty=True)
    for name, expression in sources.items():
        where.string(expression, f"authorizer.tokenSources.{name}")
        if not TOKEN_SOURCE_EXPRESSION.match(expression):
            where.fail(f"authorizer.tokenSources.{name}",
                       f"must be a route.request.querystring|header.<name> expression, got {expression!r}")
    authorizer = Authorizer(where.ref(auth["function"], "authorizer.function", names),
                            MappingProxyType(dict(sources)))
    worker = where.obj(doc["fanoutWorker"], "fanoutWorker", required={"function"})
    fanout_worker = where.ref(worker["function"], "fanoutWorker.function", names)

    expression = where.string(doc["routeSelectionExpression"], "routeSelectionExpression")
    if not SELECTION.match(expression):
        where.fail("routeSelectionExpression", f"only $request.body.<field> is supported, got {expression!r}")
    runtime = where.string(doc["runtime"], "runtime")
    if not RUNTIME.match(runtime):
        where.fail("runtime", f"must be a Python runtime such as python3.12, got {runtime!r}")
    return Manifest(path=path, service=where.string(doc["service"], "service"), runtime=runtime,
                    route_selection_expression=expression, routes=MappingProxyType(routes),
                    functions=MappingProxyType(functions), authorizer=authorizer, fanout_worker=fanout_worker,
                    raw=MappingProxyType(copy.deepcopy(doc)))


def _function(where: _Where, name: str, raw: Any, names: set[str]) -> Function:
    at = f"functions.{name}"
    spec = where.obj(raw, at, required={"handler", "memory", "timeout", "permissions"}, optional={"description"})
    handler = where.string(spec["handler"], f"{at}.handler")
    if not HANDLER.match(handler):
        where.fail(f"{at}.handler", f"must be <module>.<function>, e.g. handler.lambda_handler, got {handler!r}")
    memory = where.number(spec["memory"], f"{at}.memory", MEMORY_MB, integer=True)
    timeout = where.number(spec["timeout"], f"{at}.timeout", TIMEOUT_S)
    perms = where.obj(spec["permissions"], f"{at}.permissions", required={"dynamodb", "manageConnections", "invoke"},
                      optional={"jwtSecret"})
    grants = []
    for i, grant in enumerate(where.array(perms["dynamodb"], f"{at}.permissions.dynamodb")):
        g_at = f"{at}.permissions.dynamodb[{i}]"
        g = where.obj(grant, g_at, required={"table", "actions"}, optional={"indexes"})
        actions = where.str_list(g["actions"], f"{g_at}.actions", non_empty=True)
        bad = [a for a in actions if not a.startswith("dynamodb:")]
        if bad:
            where.fail(f"{g_at}.actions", f"DynamoDB actions start with 'dynamodb:', got {bad}")
        grants.append(DynamoGrant(where.string(g["table"], f"{g_at}.table"), actions,
                                  where.str_list(g.get("indexes", []), f"{g_at}.indexes")))
    methods = where.str_list(perms["manageConnections"], f"{at}.permissions.manageConnections")
    bad = [m for m in methods if m not in MANAGE_METHODS]
    if bad:
        where.fail(f"{at}.permissions.manageConnections", f"may list only {', '.join(MANAGE_METHODS)}, got {bad}")
    invoke = where.str_list(perms["invoke"], f"{at}.permissions.invoke")
    for target in invoke:
        where.ref(target, f"{at}.permissions.invoke", names)
    jwt = where.boolean(perms.get("jwtSecret", False), f"{at}.permissions.jwtSecret")
    return Function(name, handler, int(memory), float(timeout), Permissions(tuple(grants), methods, invoke, jwt),
                    where.string(spec.get("description", ""), f"{at}.description", empty_ok=True))


def _route(where: _Where, key: str, raw: Any, names: set[str]) -> Route:
    at = f"routes.{key}"
    if (not key or len(key) > 128 or "," in key
            or key.startswith("$") and key not in (CONNECT, DISCONNECT, DEFAULT)):
        where.fail(at, "a route key is $connect, $disconnect, $default or an action of 1-128 characters "
                       "without ','")
    spec = where.obj(raw, at, required={"function"}, optional={"authorizer", "routeResponse"})
    authorizer = where.boolean(spec.get("authorizer", False), f"{at}.authorizer")
    if authorizer and key != CONNECT:
        where.fail(f"{at}.authorizer", "WebSocket APIs authorize only at $connect")
    return Route(key, where.ref(spec["function"], f"{at}.function", names),
                 where.boolean(spec.get("routeResponse", False), f"{at}.routeResponse"), authorizer)


class _Where:
    """Type checks that name the entry they fail on."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, at: str, message: str) -> NoReturn:
        raise ManifestError(f"{self.source}: {at or '(top level)'}: {message}")

    def obj(self, value: Any, at: str, *, required: frozenset[str] | set[str] = frozenset(),
            optional: frozenset[str] | set[str] = frozenset(),
            non_empty: bool = False) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(at, f"must be a JSON object, got {type(value).__name__}")
        if non_empty and not value:
            self.fail(at, "must not be empty")
        if required or optional:
            missing = sorted(required - value.keys())
            if missing:
                self.fail(at, f"missing {', '.join(missing)}")
            unknown = sorted(k for k in value.keys() - required - optional if not k.startswith("$"))
            if unknown:
                self.fail(at, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(required | optional))}; "
                              "keys starting with '$' are comments)")
        return value

    def array(self, value: Any, at: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(at, f"must be a JSON array, got {type(value).__name__}")
        return value

    def str_list(self, value: Any, at: str, non_empty: bool = False) -> tuple[str, ...]:
        items = self.array(value, at)
        if non_empty and not items:
            self.fail(at, "must not be empty")
        for item in items:
            self.string(item, at)
        return tuple(items)

    def string(self, value: Any, at: str, empty_ok: bool = False) -> str:
        if not isinstance(value, str) or (not value and not empty_ok):
            self.fail(at, f"must be a{'' if empty_ok else ' non-empty'} string, got {value!r}")
        return value

    def boolean(self, value: Any, at: str) -> bool:
        if not isinstance(value, bool):
            self.fail(at, f"must be true or false, got {value!r}")
        return value

    def number(self, value: Any, at: str, bounds: tuple[int, int], integer: bool = False) -> float:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fail(at, f"must be {'a whole number' if integer else 'a number'}, got {value!r}")
        low, high = bounds
        if not low <= value <= high:
            self.fail(at, f"must be between {low} and {high}, got {value}")
        return value

    def ref(self, value: Any, at: str, names: set[str]) -> str:
        name = self.string(value, at)
        if name not in names:
            self.fail(at, f"names unknown function {name!r} (functions: {', '.join(sorted(names))})")
        return name
