"""LocalStack: DynamoDB + tables + functions + gateway + management/Lambda APIs on one port.

    async with LocalStack(StackConfig(port=0)) as stack:
        stack.ws_url, stack.management_url, stack.demo_url

ThreadedLocalStack runs the same thing on a background thread for synchronous callers.
Handlers share this process's environment (os.environ), so one stack runs per process at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import web

from emulator import loops
from emulator.config import StackConfig
from emulator.dynamodb import EmbeddedDynamoDB, create_tables
from emulator.dynamodb_fault_proxy import DynamoDBFaultProxy
from emulator.faults import FaultInjector, Faults
from emulator.gateway import Gateway
from emulator.invocation_log import InvocationLogger
from emulator.lambda_api import LambdaApi
from emulator.lambda_runtime import Invocation, LambdaRuntime
from emulator.local_api import LocalApi, loopback_only
from emulator.management_api import ManagementApi
from emulator.manifest import Manifest
from emulator.oidc_issuer import LocalIssuer
from emulator.terraform_defaults import load_stage_defaults
from emulator.tokens import mint_token

log = logging.getLogger("emulator")
_active_lock = threading.Lock()
_active: LocalStack | None = None
RECORD_LIMIT = 10_000


class LocalStack:
    def __init__(self, config: StackConfig | None = None, **overrides: Any) -> None:
        config = config or StackConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.injector = FaultInjector(self.config.faults)
        self.invocations: deque[Invocation] = deque(maxlen=RECORD_LIMIT)
        self.stage = ""
        self.port = 0
        self.dynamodb_endpoint = ""
        self.dynamodb_backend = ""
        self.handler_env: dict[str, str] = {}
        self._dynamodb: EmbeddedDynamoDB | None = None
        self._proxy: DynamoDBFaultProxy | None = None
        self._runner: web.AppRunner | None = None
        self._runtime: LambdaRuntime | None = None
        self.gateway: Gateway | None = None
        self._lambda_api: LambdaApi | None = None
        self.issuer: LocalIssuer | None = None  # the built-in OIDC issuer (auth_mode "oidc", no oidc_issuer)
        self._saved_env: dict[str, str | None] = {}
        self._recorded: asyncio.Condition | None = None  # created on the stack's loop in start()
        self.quotas = self.config.quotas
        self._logger = InvocationLogger(self.config.log_invocations, self.config.log_format)
        self.started = False

    # --- URLs ----------------------------------------------------------------------------------
    @property
    def _public_host(self) -> str:
        return "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host  # noqa: S104

    @property
    def base_url(self) -> str:
        return f"http://{self._public_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._public_host}:{self.port}/{self.stage}"

    @property
    def management_url(self) -> str:
        """endpoint_url for boto3.client("apigatewaymanagementapi")."""
        return f"{self.base_url}/{self.stage}"

    @property
    def lambda_url(self) -> str:
        return self.base_url

    @property
    def demo_url(self) -> str:
        return f"{self.base_url}/_local/demo/index.html"

    @property
    def oidc_issuer_url(self) -> str | None:
        """The issuer the authorizer trusts in oidc mode (the built-in one or the configured one)."""
        if self.config.auth_mode != "oidc":
            return None
        return self.config.oidc_issuer or f"{self.base_url}/_local/oidc"

    # --- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        global _active
        with _active_lock:
            if _active is not None:
                raise RuntimeError("another LocalStack is running in this process (handlers share os.environ)")
            _active = self
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cfg = self.config
        self._recorded = asyncio.Condition()
        manifest = Manifest.load(cfg.manifest_path)  # type: ignore[arg-type]
        defaults = None
        quotas = cfg.quotas
        if cfg.stage is None or quotas.throttling_rate_limit is None or quotas.throttling_burst_limit is None:
            defaults = load_stage_defaults(cfg.repo_root)
            quotas = replace(
                quotas,
                throttling_rate_limit=quotas.throttling_rate_limit or defaults.throttling_rate_limit,
                throttling_burst_limit=quotas.throttling_burst_limit or defaults.throttling_burst_limit,
            )
        self.quotas = quotas
        self.stage = cfg.stage or (defaults.stage_name if defaults else "dev")

        # 1. DynamoDB (embedded, or an endpoint given by the caller), optionally behind the fault proxy.
        if cfg.dynamodb.startswith("http://") or cfg.dynamodb.startswith("https://"):
            self.dynamodb_endpoint, self.dynamodb_backend = cfg.dynamodb, f"external ({cfg.dynamodb})"
        else:
            self._dynamodb = EmbeddedDynamoDB(cfg.repo_root, cfg.dynamodb, host="127.0.0.1")
            self.dynamodb_endpoint = await self._dynamodb.start()
            self.dynamodb_backend = self._dynamodb.backend
        handler_dynamodb = self.dynamodb_endpoint
        if cfg.dynamodb_fault_proxy:
            self._proxy = DynamoDBFaultProxy(self.dynamodb_endpoint, self.injector)
            handler_dynamodb = await asyncio.get_running_loop().run_in_executor(None, self._proxy.start)

        # 2. The port first (port 0 -> a free one), because the handlers' environment names it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((cfg.host, cfg.port))
        self.port = sock.getsockname()[1]

        # 3. The built-in identity provider (oidc mode without an external issuer), then the handlers'
        #    environment: the same variable names Terraform sets.
        loop = asyncio.get_running_loop()
        if cfg.auth_mode == "oidc" and not cfg.oidc_issuer:
            self.issuer = await loop.run_in_executor(None, LocalIssuer, self.oidc_issuer_url, cfg.oidc_audience)
        prefix = cfg.table_prefix if cfg.table_prefix is not None else f"{manifest.service}-{self.stage}-"
        env = {
            "CONNECTIONS_TABLE": f"{prefix}connections",
            "ROOM_MEMBERS_TABLE": f"{prefix}room_members",
            "MESSAGES_TABLE": f"{prefix}messages",
            "AWS_REGION": cfg.region,
            "AWS_DEFAULT_REGION": cfg.region,
            "MANAGEMENT_ENDPOINT": self.management_url,
            "FANOUT_FUNCTION_NAME": "fanout",
            **self._auth_env(),
            "LOG_LEVEL": cfg.handler_log_level,
            "AWS_ENDPOINT_URL_DYNAMODB": handler_dynamodb,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",  # noqa: S105 - dummy credentials for local endpoints
            "AWS_SESSION_TOKEN": "local",
            **cfg.extra_env,
        }
        if "fanout" not in manifest.functions:
            env.pop("FANOUT_FUNCTION_NAME")
        self.handler_env = env
        self._apply_env(env)
        if cfg.create_tables:
            await loop.run_in_executor(None, create_tables, env)

        # 4. Functions, gateway and APIs.
        self._runtime = LambdaRuntime(manifest, cfg.functions_dir, cfg.shared_dir,  # type: ignore[arg-type]
                                      region=cfg.region, account_id=cfg.account_id, concurrency=cfg.concurrency,
                                      faults=self.injector, function_workers=cfg.function_workers,
                                      manifest_path=cfg.manifest_path)
        await loop.run_in_executor(None, self._runtime.load_all)
        self.gateway = Gateway(manifest=manifest, runtime=self._runtime, quotas=quotas, stage=self.stage,
                               region=cfg.region, account_id=cfg.account_id, api_id=cfg.api_id,
                               observer=self._observe, token_sources=cfg.token_sources)
        app = web.Application(middlewares=[loopback_only], client_max_size=4 * quotas.max_message_bytes)
        self.gateway.add_routes(app)
        ManagementApi(self.gateway, quotas, self.injector).add_routes(app)
        self._lambda_api = LambdaApi(self._runtime, self._observe, self.config.async_retry_delays_s)
        self._lambda_api.add_routes(app)
        LocalApi(self).add_routes(app)
        # aiohttp answers 400 to request lines over 8190 bytes before any handler runs: raise the limit
        # well above the 4096-character URL quota so the gateway can answer 414 as AWS does.
        line_limit = max(65_536, 4 * quotas.max_url_chars)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                                     max_line_size=line_limit, max_field_size=line_limit)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=2048).start()
        self.started = True

    async def stop(self) -> None:
        global _active
        try:
            if self.gateway is not None:
                await self.gateway.close_all()
            if self._lambda_api is not None:
                await self._lambda_api.drain(timeout=5)
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
            if self._runtime is not None:
                self._runtime.shutdown()
                self._runtime = None
            if self._proxy is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._proxy.stop)
                self._proxy = None
            if self._dynamodb is not None:
                await self._dynamodb.stop()
                self._dynamodb = None
        finally:
            self._restore_env()
            self.started = False
            with _active_lock:
                if _active is self:
                    _active = None

    def _handler_placement(self) -> str:
        workers = self.config.function_workers
        threads = f"{self.config.concurrency} threads"
        if not workers:
            return f"{threads} of this process"
        return f"{workers} worker process{'es' if workers > 1 else ''} x {threads}"

    # --- environment -----------------------------------------------------------------------------
    def _auth_env(self) -> dict[str, str]:
        """The authorizer's settings as Terraform sets them (only the variables of the chosen mode)."""
        cfg = self.config
        env = {"TOKEN_SOURCES": ",".join(cfg.token_sources)}
        if cfg.auth_mode == "hs256":
            return {**env, "JWT_SECRET": cfg.jwt_secret}
        return {**env, "AUTH_MODE": "oidc", "OIDC_ISSUER": self.oidc_issuer_url or "",
                "OIDC_AUDIENCE": cfg.oidc_audience}

    def _apply_env(self, env: dict[str, str]) -> None:
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        shared = str(self.config.shared_dir)
        if shared not in sys.path:
            sys.path.insert(0, shared)
        _reset_layer_caches()

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        _reset_layer_caches()

    # --- recording and waiting -----------------------------------------------------------------
    def _observe(self, inv: Invocation, connection_id: str | None) -> None:
        self._logger(inv, connection_id)
        if self.config.record_events:
            self.invocations.append(inv)
            assert self._recorded is not None
            cond = self._recorded

            async def notify() -> None:
                async with cond:
                    cond.notify_all()

            asyncio.get_running_loop().create_task(notify())

    async def wait_for_invocation(self, predicate: Callable[[Invocation], bool], timeout: float = 10.0) -> Invocation:
        """The first recorded invocation matching ``predicate`` (waits for it; needs record_events)."""
        if not self.config.record_events:
            raise RuntimeError("start the stack with record_events=True")
        assert self._recorded is not None
        async with asyncio.timeout(timeout):
            async with self._recorded:
                while True:
                    for inv in self.invocations:
                        if predicate(inv):
                            return inv
                    await self._recorded.wait()

    # --- faults, tokens, info ------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self.injector.faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        new = (faults or self.injector.faults).updated(changes) if changes else (faults or Faults())
        self.injector.set(new)
        log.info("faults set: %s", {k: v for k, v in new.to_dict().items() if v not in (0, 0.0, None, [])})
        return new

    def mint_token(self, user_id: str, ttl_seconds: int = 3600, **claims: Any) -> str:
        """A token the authorizer accepts: HS256 with the stack's secret, or in oidc mode an ID token
        of the built-in issuer (an external issuer's tokens come from that provider)."""
        if self.config.auth_mode == "hs256":
            return mint_token(user_id, self.config.jwt_secret, ttl_seconds=ttl_seconds, **claims)
        if self.issuer is None:
            raise RuntimeError(f"tokens come from the identity provider {self.config.oidc_issuer}, not the stack")
        return self.issuer.mint(user_id, ttl_seconds=ttl_seconds, **claims)

    def auth_info(self) -> dict[str, Any]:
        return {"mode": self.config.auth_mode, "tokenSources": list(self.config.token_sources),
                "subprotocol": "wschat", "tokenSubprotocolPrefix": "bearer.",
                "issuer": self.oidc_issuer_url, "audience": self.config.oidc_audience if self.oidc_issuer_url else None,
                "localIssuer": self.issuer is not None}

    def info(self) -> dict[str, Any]:
        return {
            "wsUrl": self.ws_url, "managementUrl": self.management_url, "lambdaUrl": self.lambda_url,
            "demoUrl": self.demo_url, "stage": self.stage, "region": self.config.region, "auth": self.auth_info(),
            "dynamodb": {"backend": self.dynamodb_backend, "endpoint": self.dynamodb_endpoint},
            "connections": len(self.gateway.connections) if self.gateway else 0,
            "quotas": dict(self.quotas.__dict__),
            "faults": self.faults.to_dict(),
            "faultCounters": {"dynamodbThrottled": self._proxy.throttled if self._proxy else 0},
        }

    def banner(self) -> str:
        q = self.quotas
        return "\n".join([
            "",
            "  Local stack is up (API Gateway WebSocket emulator; not AWS)",
            f"  WebSocket (clients):     {self._client_hint()}",
            f"  Authorizer:              {self._auth_banner()}",
            f"  Management endpoint:     {self.management_url}",
            f"      boto3.client('apigatewaymanagementapi', endpoint_url='{self.management_url}')",
            f"  Lambda Invoke endpoint:  {self.lambda_url}",
            f"  Demo chat page:          {self.demo_url}",
            "  Test token:              python -m emulator token --user u_1"
            + (" --oidc" if self.issuer else "") + f"   (or GET {self.base_url}/_local/token?user=u_1)",
            f"  DynamoDB:                {self.dynamodb_backend} at {self.dynamodb_endpoint}",
            f"  Event loop:              {loops.name()}; handlers in {self._handler_placement()}",
            f"  Stage {self.stage!r}: throttle {q.throttling_rate_limit:g} rps / burst {q.throttling_burst_limit}, "
            f"idle {q.idle_timeout_s:g} s, max {q.max_connection_s:g} s, message {q.max_message_bytes} B",
            "  Ctrl-C stops everything.",
            "",
        ])


    def _client_hint(self) -> str:
        ways = {"query": f"{self.ws_url}?token=<jwt>", "subprotocol": "Sec-WebSocket-Protocol: wschat, bearer.<jwt>"}
        first, *rest = [ways[source] for source in self.config.token_sources]
        if first.startswith("Sec-"):
            first = f"{self.ws_url}   with {first}"
        return first + "".join(f"   (or {other})" for other in rest)

    def _auth_banner(self) -> str:
        sources = "+".join(self.config.token_sources)
        if self.config.auth_mode == "hs256":
            return f"hs256 (local dev secret); token from {sources}"
        where = "built-in issuer" if self.issuer else "external issuer"
        return f"oidc, {where} {self.oidc_issuer_url} (audience {self.config.oidc_audience}); token from {sources}"


def _reset_layer_caches() -> None:
    """chat caches settings, model bindings and boto3 clients per container: reset them."""
    try:
        from chat import config as chat_config
        from chat import models as chat_models
    except ImportError:
        return
    chat_config.get_settings.cache_clear()
    chat_models.reset_binding()
    oidc = sys.modules.get("chat.oidc")  # a fresh key set per stack, as a new Lambda container has
    if oidc is not None:
        oidc.verifier.cache_clear()
    try:
        from chat import clients as chat_clients
    except ImportError:
        return
    reset = getattr(chat_clients, "reset", None)
    if callable(reset):
        reset()


class ThreadedLocalStack:
    """A LocalStack on a background thread with its own event loop, for synchronous code.

        with ThreadedLocalStack(StackConfig(port=0)) as stack:
            boto3.client("apigatewaymanagementapi", endpoint_url=stack.management_url)
    """

    def __init__(self, config: StackConfig | None = None, **overrides: Any) -> None:
        self.stack = LocalStack(config, **overrides)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stack, name)

    def start(self, timeout: float = 120.0) -> ThreadedLocalStack:
        self._thread = threading.Thread(target=self._run, name="local-stack", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("local stack did not start in time")
        if self._error is not None:
            raise RuntimeError(f"local stack failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = loops.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.stack.start()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.stack.stop()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the stack's loop (e.g. stack.wait_for_invocation(...))."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def on_stack_loop(self, coro: Any) -> Any:
        """Await a coroutine that must run on the stack's loop, from another event loop."""
        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def wait_for_invocation(self, predicate: Callable[[Invocation], bool], timeout: float = 10.0) -> Invocation:
        return await self.on_stack_loop(self.stack.wait_for_invocation(predicate, timeout))

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(60)

    def __enter__(self) -> ThreadedLocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

