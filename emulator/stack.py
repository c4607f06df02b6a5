"""LocalStack's lifecycle: DynamoDB + tables + functions + gateway + management/Lambda APIs on one
port, started and stopped in order.

    async with LocalStack(StackConfig(port=0)) as stack:
        stack.ws_url, stack.management_url, stack.demo_url

The parts live apart: the handlers' environment (emulator/handler_env.py), invocation recording
(emulator/recorder.py), the runtimes (emulator/lambda_runtime.py), the banner (emulator/banner.py);
ThreadedLocalStack (emulator/threaded.py) runs a stack on a background thread for synchronous
callers. The thread runtime's handlers share this process's environment, so one stack runs per process
at a time.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import web

from emulator import emf
from emulator.banner import banner
from emulator.config import StackConfig
from emulator.dynamodb import EmbeddedDynamoDB, create_tables
from emulator.dynamodb_fault_proxy import DynamoDBFaultProxy
from emulator.faults import FaultInjector, Faults
from emulator.gateway import Gateway
from emulator.handler_env import ProcessEnvironment, function_environments, handler_environment
from emulator.invocation_log import InvocationLogger
from emulator.lambda_api import LambdaApi
from emulator.lambda_runtime import Invocation, LambdaRuntime, make_runtime
from emulator.local_api import LocalApi, loopback_only
from emulator.management_api import ManagementApi
from emulator.oidc_issuer import LocalIssuer
from emulator.recorder import InvocationRecorder
from emulator.terraform_defaults import load_stage_defaults
from emulator.tokens import mint_token
from manifest import load_manifest

log = logging.getLogger("emulator")
_active_lock = threading.Lock()
_active: LocalStack | None = None


class LocalStack:
    def __init__(self, config: StackConfig | None = None, **overrides: Any) -> None:
        config = config or StackConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.injector = FaultInjector(self.config.faults)
        self.recorder = InvocationRecorder(self.config.record_events,
                                           InvocationLogger(self.config.log_invocations, self.config.log_format))
        self.stage = ""
        self.port = 0
        self.dynamodb_endpoint = ""
        self.dynamodb_backend = ""
        self.handler_env: dict[str, str] = {}  # the union of the functions' environments
        self.function_env: dict[str, dict[str, str]] = {}  # each function's (without the Lambda runtime's)
        self._dynamodb: EmbeddedDynamoDB | None = None
        self._proxy: DynamoDBFaultProxy | None = None
        self._runner: web.AppRunner | None = None
        self._runtime: LambdaRuntime | None = None
        self.gateway: Gateway | None = None
        self._lambda_api: LambdaApi | None = None
        self.issuer: LocalIssuer | None = None  # the built-in OIDC issuer (auth_mode "oidc", no oidc_issuer)
        self._environment = ProcessEnvironment(self.config.shared_dir)  # type: ignore[arg-type]
        self.quotas = self.config.quotas
        self.metrics = emf.LocalMetrics()  # what the functions print as EMF, counted as CloudWatch does
        self.started = False

    @property
    def runtime(self) -> LambdaRuntime | None:
        """The functions' runtime while the stack runs (loaded files, worker pids)."""
        return self._runtime

    @property
    def invocations(self) -> deque[Invocation]:
        """The recorded invocations (with ``record_events``), oldest first."""
        return self.recorder.invocations

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
        self.recorder.start()
        manifest = load_manifest(cfg.manifest_path)  # type: ignore[arg-type]
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
        env = handler_environment(cfg, manifest, stage=self.stage, management_url=self.management_url,
                                  lambda_url=self.lambda_url, dynamodb_endpoint=handler_dynamodb,
                                  oidc_issuer=self.oidc_issuer_url)
        self.handler_env = env
        self.function_env = function_environments(cfg, manifest, stage=self.stage, management_url=self.management_url,
                                                  lambda_url=self.lambda_url, dynamodb_endpoint=handler_dynamodb,
                                                  oidc_issuer=self.oidc_issuer_url)
        # The thread runtime's handlers (and the table creation below) read this process's environment;
        # sandboxes start with their own function's alone, and are told the metrics socket apart from it.
        metrics_socket = self.metrics.open()
        self._environment.apply({**env, emf.SOCKET_VARIABLE: metrics_socket})
        if cfg.create_tables:
            await loop.run_in_executor(None, create_tables, env)

        # 4. Functions, gateway and APIs.
        self._runtime = make_runtime(manifest, manifest_path=cfg.manifest_path,  # type: ignore[arg-type]
                                     functions_dir=cfg.functions_dir, shared_dir=cfg.shared_dir,  # type: ignore[arg-type]
                                     region=cfg.region, account_id=cfg.account_id, concurrency=cfg.concurrency,
                                     faults=self.injector, function_workers=cfg.function_workers,
                                     environments=self.function_env, metrics_socket=metrics_socket,
                                     sandboxes_on_demand=cfg.sandboxes_on_demand)
        await loop.run_in_executor(None, self._runtime.load_all)
        self._runtime.attach(loop)
        self.gateway = Gateway(manifest=manifest, runtime=self._runtime, quotas=quotas, stage=self.stage,
                               region=cfg.region, account_id=cfg.account_id, api_id=cfg.api_id,
                               observer=self.recorder.observe, token_sources=cfg.token_sources)
        app = web.Application(middlewares=[loopback_only], client_max_size=4 * quotas.max_message_bytes)
        self.gateway.add_routes(app)
        ManagementApi(self.gateway, quotas, self.injector).add_routes(app)
        self._lambda_api = LambdaApi(self._runtime, self.recorder.observe, self.config.async_retry_delays_s)
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
            self.metrics.close()
            emf.release()
            self._environment.restore()
            self.started = False
            with _active_lock:
                if _active is self:
                    _active = None

    async def wait_for_invocation(self, predicate: Callable[[Invocation], bool], timeout: float = 10.0) -> Invocation:
        """The first recorded invocation matching ``predicate`` (waits for it; needs record_events)."""
        return await self.recorder.wait_for(predicate, timeout)

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
            "dynamodb": {"backend": self.dynamodb_backend, "endpoint": self.dynamodb_endpoint,
                         "pid": self._dynamodb.pid if self._dynamodb else None},
            "sandboxes": {name: self._runtime.worker_pids(name) for name in self._runtime.manifest.functions}
                         if self._runtime else {},
            "connections": len(self.gateway.connections) if self.gateway else 0,
            "quotas": dict(self.quotas.__dict__),
            "faults": self.faults.to_dict(),
            "faultCounters": {"dynamodbThrottled": self._proxy.throttled if self._proxy else 0},
        }

    def banner(self) -> str:
        return banner(config=self.config, quotas=self.quotas, stage=self.stage, base_url=self.base_url,
                      ws_url=self.ws_url, management_url=self.management_url, lambda_url=self.lambda_url,
                      demo_url=self.demo_url, dynamodb=f"{self.dynamodb_backend} at {self.dynamodb_endpoint}",
                      oidc_issuer=self.oidc_issuer_url, local_issuer=self.issuer is not None)
