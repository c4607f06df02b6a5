"""Configuration of one local stack: where the code is, quotas, ports. CLI flags map onto these."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

from emulator.faults import Faults
from manifest import manifest_path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_JWT_SECRET = "local-dev-secret-not-for-production-only-for-the-emulator-on-loopback"  # noqa: S105 - documented local-only secret
AUTH_MODES = ("hs256", "oidc")  # chat.config.AUTH_MODES
SANDBOX_MODES = ("on-demand", "always")  # CLI --sandboxes: StackConfig.sandboxes_on_demand
TOKEN_SOURCES = ("query", "subprotocol")  # chat.protocol.TOKEN_SOURCES: both on unless narrowed
LOCAL_OIDC_AUDIENCE = "wschat-local"


@dataclass(frozen=True)
class Quotas:
    """API Gateway WebSocket quotas (shared/AWS_FACTS.md). Each is enforced and configurable."""

    max_message_bytes: int = 128 * 1024  # larger -> close 1009; @connections -> 413
    max_frame_bytes: int = 32 * 1024  # one larger frame -> close 1009 (a message may span several frames)
    idle_timeout_s: float = 600.0  # no client message for this long -> close 1001
    max_connection_s: float = 7200.0  # connection age -> close 1001
    integration_timeout_s: float = 29.0  # the gateway stops waiting for a function
    max_url_chars: int = 4096  # connect URL incl. query string -> 414
    max_authorizer_context_bytes: int = 8 * 1024  # authorizer result context -> 500
    new_connections_per_second: float = 500.0  # account quota -> 429 on the handshake
    throttling_rate_limit: float | None = None  # stage requests/s; None: terraform/variables.tf default
    throttling_burst_limit: int | None = None  # stage burst; None: terraform/variables.tf default
    account_rate_limit: float = 10_000.0  # @connections calls/s (account throttle)
    account_burst_limit: int = 5_000


def _api_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10))


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    stage: str | None = None  # None: terraform/variables.tf `stage_name` default ("dev")
    region: str = "us-east-1"
    account_id: str = "123456789012"
    api_id: str = field(default_factory=_api_id)
    repo_root: Path = REPO_ROOT
    manifest_path: Path | None = None  # default: the repository's manifest (manifest.manifest_path)
    functions_dir: Path | None = None  # default: <repo_root>/functions
    shared_dir: Path | None = None  # default: <repo_root>/shared (the layer's /opt/python)
    jwt_secret: str = DEV_JWT_SECRET
    # Authorizer: "hs256" (jwt_secret) or "oidc". In oidc mode with oidc_issuer None the stack serves
    # its own issuer under /_local/oidc (emulator/oidc_issuer.py); else the authorizer uses that URL
    # (e.g. a Cognito user pool's issuer) with oidc_audience as the app client id. Other OIDC_*
    # settings (user claim, token_use, ...) go through extra_env.
    auth_mode: str = "hs256"
    token_sources: tuple[str, ...] = TOKEN_SOURCES
    oidc_issuer: str | None = None
    oidc_audience: str = LOCAL_OIDC_AUDIENCE
    handler_log_level: str = "INFO"
    dynamodb: str = "auto"  # auto | local | moto | http://host:port (an already running endpoint)
    table_prefix: str | None = None  # default: "<service>-<stage>-"
    create_tables: bool = True
    quotas: Quotas = field(default_factory=Quotas)
    faults: Faults = field(default_factory=Faults)
    dynamodb_fault_proxy: bool = True  # route handlers' DynamoDB calls through the throttling proxy
    concurrency: int = 64  # handler threads (Lambda concurrency of the whole stack, per worker process)
    function_workers: int = 0  # 0: handlers in this process's threads; N: in N worker processes
    # with function_workers: a function's sandbox starts on its first invocation (as Lambda; `make run`),
    # else every function's sandbox runs from the start
    sandboxes_on_demand: bool = False
    # Asynchronous (Event) invocations that fail are retried like Lambda does (2 retries; AWS waits
    # about 1 and 2 minutes, locally these delays in seconds), then dropped with a log line.
    async_retry_delays_s: tuple[float, ...] = (1.0, 2.0)
    record_events: bool = False  # keep every invocation (event, result) for tests
    log_invocations: bool = True
    log_format: str = "text"  # text | json
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(f"auth_mode must be one of {', '.join(AUTH_MODES)}, got {self.auth_mode!r}")
        unknown = [s for s in self.token_sources if s not in TOKEN_SOURCES]
        if not self.token_sources or unknown:
            raise ValueError(f"token_sources must be a non-empty subset of {', '.join(TOKEN_SOURCES)}")
        self.token_sources = tuple(self.token_sources)
        self.repo_root = Path(self.repo_root).resolve()
        if self.manifest_path is None:
            self.manifest_path = manifest_path(self.repo_root)
        if self.functions_dir is None:
            self.functions_dir = self.repo_root / "functions"
        if self.shared_dir is None:
            self.shared_dir = self.repo_root / "shared"
