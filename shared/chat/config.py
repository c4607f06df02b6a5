"""Settings, read from environment variables in this one place.

Terraform sets these on every function (terraform/modules/functions); the local emulator sets
the same names. A missing required variable raises :class:`ConfigurationError` naming it.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from chat.clients import on_reset
from chat.errors import ConfigurationError
from chat.protocol import TOKEN_SOURCES

AUTH_MODES = ("hs256", "oidc")
#: Asymmetric JWS algorithms the oidc mode may accept (RFC 7518). ``none`` and the HMAC family are
#: never accepted from an identity provider: a public key must not double as an HMAC secret.
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
COGNITO_TOKEN_USES = ("id", "access")
TOKEN_LEEWAY_SECONDS = 30  # clock skew allowed on exp/nbf/iat, in both modes

#: Every environment variable the layer reads, with what it means. Terraform and the emulator
#: are tested to set exactly the required ones (tests/terraform, tests/e2e).
REQUIRED = ("CONNECTIONS_TABLE", "ROOM_MEMBERS_TABLE", "MESSAGES_TABLE")
OPTIONAL = {
    "AWS_REGION": "region of the tables and the management endpoint (set by the Lambda runtime)",
    "CLIENT_ACTIONS": "comma-separated actions a client may send (the manifest's custom routes; $default "
                      "names them); set by Terraform and the emulator from manifest.json",
    "MANAGEMENT_ENDPOINT": "override of https://{apiId}.execute-api.{region}.amazonaws.com/{stage}",
    "CONNECTION_TTL_SECONDS": "registry row lifetime; default 2 h max connection + 10 min slack",
    "MESSAGE_RETENTION_DAYS": "history TTL in days; 0 keeps messages forever",
    "IDEMPOTENCY_TTL_SECONDS": "how long a clientMessageId is remembered",
    "MAX_TEXT_CHARS": "largest message text accepted",
    "MAX_ROOMS_PER_CONNECTION": "how many rooms one connection may join",
    "FANOUT_CONCURRENCY": "PostToConnection calls in flight per invocation",
    "FANOUT_PAGE_SIZE": "registry items per Query page during fan-out",
    "FANOUT_TIME_MARGIN_MS": "hand the rest of a fan-out to FANOUT_FUNCTION_NAME when less time remains",
    "FANOUT_FUNCTION_NAME": "function that continues an unfinished fan-out",
    "FANOUT_MAX_HOPS": "most hand-offs in one fan-out chain; one more fails to the on-failure destination",
    "FANOUT_SCATTER": "1: hand every Query page after the first to a parallel continuation (0: one invocation)",
    "BROADCAST_SHARDS": "write shards of the byShard index (broadcast-to-all without Scan)",
    "RATE_LIMIT_PER_MINUTE": "messages one connection may send per minute (0 disables)",
    "AUTH_MODE": "hs256 (tokens signed with a shared secret) or oidc (an identity provider's JWKS)",
    "TOKEN_SOURCES": "where $connect takes the token from: query, subprotocol, or both (comma-separated)",
    "JWT_SECRET": "HS256 secret (local use); on AWS prefer JWT_SECRET_PARAMETER",
    "JWT_SECRET_PARAMETER": "SSM SecureString parameter name holding the HS256 secret",
    "JWT_ISSUER": "hs256: required `iss` claim, if set",
    "JWT_AUDIENCE": "hs256: required `aud` claim, if set",
    "OIDC_ISSUER": "oidc: the issuer URL (exactly the tokens' `iss`); discovery at <issuer>/.well-known/openid-configuration",
    "OIDC_AUDIENCE": "oidc: accepted audiences / client ids (comma-separated): `aud`, or Cognito's `client_id`",
    "OIDC_USER_CLAIM": "oidc: the claim that becomes the user id (default sub; e.g. cognito:username)",
    "OIDC_TOKEN_USE": "oidc: accepted Cognito `token_use` values (id, access); unset: not checked",
    "OIDC_ALGORITHMS": "oidc: accepted signature algorithms (default: the RS/PS/ES families)",
    "OIDC_JWKS_URI": "oidc: JWKS URL, skipping discovery (providers without a discovery document)",
    "OIDC_JWKS_CACHE_SECONDS": "oidc: key set lifetime before a re-fetch (default 3600)",
    "OIDC_JWKS_MIN_REFRESH_SECONDS": "oidc: at most one JWKS fetch per this many seconds, even for unknown kids (default 10)",
    "OIDC_HTTP_TIMEOUT_MS": "oidc: time budget for discovery + JWKS fetches; past it the authorizer fails closed",
    "LOG_LEVEL": "DEBUG/INFO/WARNING/ERROR",
    "POWERTOOLS_METRICS_NAMESPACE": "CloudWatch namespace of the stack's own metrics (chat.metrics; default wschat)",
}
# CloudWatch's namespace rule (as terraform's metrics_namespace validation): AWS/ is AWS's own
METRICS_NAMESPACE = re.compile(r"^[A-Za-z0-9./#:_-]{1,255}$")


@dataclass(frozen=True)
class Settings:
    connections_table: str
    room_members_table: str
    messages_table: str
    region: str | None = None
    client_actions: tuple[str, ...] = ()
    management_endpoint: str | None = None
    connection_ttl_seconds: int = 2 * 3600 + 600
    message_retention_days: int = 0
    idempotency_ttl_seconds: int = 24 * 3600
    max_text_chars: int = 4000
    max_rooms_per_connection: int = 50
    fanout_concurrency: int = 32
    fanout_page_size: int = 500
    fanout_time_margin_ms: int = 3000
    fanout_function_name: str | None = None
    fanout_max_hops: int = 8
    fanout_scatter: bool = True
    broadcast_shards: int = 16
    rate_limit_per_minute: int = 120
    auth_mode: str = "hs256"
    token_sources: tuple[str, ...] = TOKEN_SOURCES
    jwt_secret: str | None = None
    jwt_secret_parameter: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    oidc_issuer: str | None = None
    oidc_audiences: tuple[str, ...] = ()
    oidc_user_claim: str = "sub"
    oidc_token_use: tuple[str, ...] = ()
    oidc_algorithms: tuple[str, ...] = OIDC_ALGORITHMS
    oidc_jwks_uri: str | None = None
    oidc_jwks_cache_seconds: int = 3600
    oidc_jwks_min_refresh_seconds: int = 10
    oidc_http_timeout_ms: int = 2000
    log_level: str = "INFO"
    metrics_namespace: str = "wschat"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ConfigurationError(
                f"missing required environment variable(s): {', '.join(missing)}"
            )
        auth_mode = (env.get("AUTH_MODE") or "hs256").lower()
        if auth_mode not in AUTH_MODES:
            raise ConfigurationError(f"AUTH_MODE must be one of {', '.join(AUTH_MODES)}, got {auth_mode!r}")
        oidc_issuer = _url(env, "OIDC_ISSUER")
        oidc_audiences = _names(env, "OIDC_AUDIENCE")
        if auth_mode == "oidc" and (not oidc_issuer or not oidc_audiences):
            raise ConfigurationError("AUTH_MODE=oidc needs OIDC_ISSUER and OIDC_AUDIENCE (the app client id)")
        return cls(
            connections_table=env["CONNECTIONS_TABLE"],
            room_members_table=env["ROOM_MEMBERS_TABLE"],
            messages_table=env["MESSAGES_TABLE"],
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            client_actions=tuple(a.strip() for a in (env.get("CLIENT_ACTIONS") or "").split(",") if a.strip()),
            management_endpoint=env.get("MANAGEMENT_ENDPOINT") or None,
            connection_ttl_seconds=_int(env, "CONNECTION_TTL_SECONDS", cls.connection_ttl_seconds, 60),
            message_retention_days=_int(env, "MESSAGE_RETENTION_DAYS", cls.message_retention_days, 0),
            idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL_SECONDS", cls.idempotency_ttl_seconds, 60),
            max_text_chars=_int(env, "MAX_TEXT_CHARS", cls.max_text_chars, 1, 30_000),
            max_rooms_per_connection=_int(env, "MAX_ROOMS_PER_CONNECTION", cls.max_rooms_per_connection, 1, 1000),
            fanout_concurrency=_int(env, "FANOUT_CONCURRENCY", cls.fanout_concurrency, 1, 512),
            fanout_page_size=_int(env, "FANOUT_PAGE_SIZE", cls.fanout_page_size, 1, 10_000),
            fanout_time_margin_ms=_int(env, "FANOUT_TIME_MARGIN_MS", cls.fanout_time_margin_ms, 0),
            fanout_function_name=env.get("FANOUT_FUNCTION_NAME") or None,
            fanout_max_hops=_int(env, "FANOUT_MAX_HOPS", cls.fanout_max_hops, 1, 100),
            fanout_scatter=bool(_int(env, "FANOUT_SCATTER", 1, 0, 1)),
            broadcast_shards=_int(env, "BROADCAST_SHARDS", cls.broadcast_shards, 1, 1000),
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute, 0),
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_secret_parameter=env.get("JWT_SECRET_PARAMETER") or None,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            auth_mode=auth_mode,
            token_sources=_names(env, "TOKEN_SOURCES", allowed=TOKEN_SOURCES) or TOKEN_SOURCES,
            oidc_issuer=oidc_issuer,
            oidc_audiences=oidc_audiences,
            oidc_user_claim=(env.get("OIDC_USER_CLAIM") or "sub").strip(),
            oidc_token_use=_names(env, "OIDC_TOKEN_USE", allowed=COGNITO_TOKEN_USES),
            oidc_algorithms=_names(env, "OIDC_ALGORITHMS", allowed=OIDC_ALGORITHMS) or OIDC_ALGORITHMS,
            oidc_jwks_uri=_url(env, "OIDC_JWKS_URI"),
            oidc_jwks_cache_seconds=_int(env, "OIDC_JWKS_CACHE_SECONDS", cls.oidc_jwks_cache_seconds, 60, 86_400),
            oidc_jwks_min_refresh_seconds=_int(env, "OIDC_JWKS_MIN_REFRESH_SECONDS",
                                               cls.oidc_jwks_min_refresh_seconds, 1, 3600),
            oidc_http_timeout_ms=_int(env, "OIDC_HTTP_TIMEOUT_MS", cls.oidc_http_timeout_ms, 100, 20_000),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            metrics_namespace=_metrics_namespace(env),
        )

    def require_region(self) -> str:
        if not self.region:
            raise ConfigurationError("missing required environment variable: AWS_REGION")
        return self.region

    def require_client_actions(self) -> tuple[str, ...]:
        if not self.client_actions:
            raise ConfigurationError("missing required environment variable: CLIENT_ACTIONS")
        return self.client_actions


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigurationError(f"{name} must be {bound}, got {value}")
    return value


def _metrics_namespace(env: Mapping[str, str]) -> str:
    raw = env.get("POWERTOOLS_METRICS_NAMESPACE") or Settings.metrics_namespace
    if not METRICS_NAMESPACE.match(raw) or raw.startswith("AWS/"):
        raise ConfigurationError("POWERTOOLS_METRICS_NAMESPACE must be 1-255 of A-Z a-z 0-9 . / # : _ -, "
                                 f"not starting with AWS/; got {raw!r}")
    return raw


def _names(env: Mapping[str, str], name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A comma-separated list; every item must be one of ``allowed`` when that is given."""
    items = tuple(dict.fromkeys(item.strip() for item in (env.get(name) or "").split(",") if item.strip()))
    if allowed is not None:
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise ConfigurationError(f"{name} may list only {', '.join(allowed)}; got {', '.join(unknown)}")
    return items


def _url(env: Mapping[str, str], name: str) -> str | None:
    """An https URL (plain http only for a loopback host: the local stack's issuer and tests)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme == "https" and parts.hostname:
        return raw
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return raw
    raise ConfigurationError(f"{name} must be an https:// URL (http:// only on loopback), got {raw!r}")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def get_settings() -> Settings:
    """Settings of this container, read once. ``chat.clients.reset()`` forgets them."""
    return Settings.from_env()


on_reset(get_settings.cache_clear)
