"""AWS clients, created lazily once per container (never at import time) with explicit timeouts and
retry mode. ``reset()`` forgets them, and every cache registered with ``on_reset`` (settings, model
bindings, the JWT secret): tests and the emulator call it after changing the environment."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

MANAGEMENT_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5}
_create_lock = threading.Lock()
_resets: list[Callable[[], None]] = []


def on_reset(clear: Callable[[], None]) -> None:
    """Registers a cache of another module that ``reset()`` must clear too (so that this module,
    which every user imports, imports none of them)."""
    _resets.append(clear)


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
def signed_poster(endpoint: str, region: str, max_pool: int = 32) -> Any:
    """chat.signed_post's PostToConnection for one stage endpoint (the fan-out's hot path): boto3's
    request, signed by botocore, without botocore's retries (chat.fanout retries throttling and
    transient errors itself with jittered backoff, and must never retry a GoneException)."""
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
    """Forget cached clients and every registered cache (call after changing the environment)."""
    signed_poster.cache_clear()
    lambda_client.cache_clear()
    ssm_client.cache_clear()
    for clear in list(_resets):
        clear()
