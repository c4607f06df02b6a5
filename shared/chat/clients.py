"""boto3 clients, created lazily once per container (never at import time) with explicit
timeouts and retry mode. ``reset()`` forgets them (tests, the emulator after changing env)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

MANAGEMENT_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5}
_create_lock = threading.Lock()


def _created_once(factory: Callable[..., Any]) -> Any:
    """``functools.cache`` plus one lock: handler threads racing to their first call would each
    build a client (and boto3's default session) of their own, ~10 MB apiece, and keep only one."""
    cached = functools.cache(factory)

    @functools.wraps(factory)
    def get(*args: Any) -> Any:
        with _create_lock:
            return cached(*args)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


@_created_once
def management_client(endpoint: str, region: str, max_pool: int = 32) -> Any:
    """apigatewaymanagementapi client for one stage endpoint.

    botocore's own retries are off (max_attempts=1): chat.fanout retries throttling and transient
    errors itself with jittered backoff, and must never retry a GoneException. Client-side parameter
    validation is off too: chat.management builds the two parameters itself, and the check costs
    ~7% of the CPU of every post on the fan-out's hot path (the service still validates).
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=max_pool,
                      parameter_validation=False, **MANAGEMENT_TIMEOUTS),
    )


@_created_once
def signed_poster(endpoint: str, region: str, max_pool: int = 32) -> Any:
    """chat.signed_post's PostToConnection for one stage endpoint (the fan-out's hot path)."""
    import botocore.session

    from chat.errors import ConfigurationError
    from chat.signed_post import SignedPoster

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise ConfigurationError("no AWS credentials to sign @connections posts with")
    return SignedPoster(endpoint, region, credentials, max_pool=max_pool, **MANAGEMENT_TIMEOUTS)


@_created_once
def lambda_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", region_name=region,
                        config=Config(retries={"mode": "standard", "max_attempts": 3},
                                      connect_timeout=2, read_timeout=10))


@_created_once
def ssm_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("ssm", region_name=region,
                        config=Config(retries={"mode": "standard", "max_attempts": 3},
                                      connect_timeout=2, read_timeout=5))


def reset() -> None:
    """Forget cached clients, settings and model bindings (call after changing the environment)."""
    from chat import auth, config, models

    management_client.cache_clear()
    signed_poster.cache_clear()
    lambda_client.cache_clear()
    ssm_client.cache_clear()
    config.get_settings.cache_clear()
    auth.jwt_secret.cache_clear()
    models.reset_binding()
