"""The handlers' environment: the variable names Terraform sets on every function (chat.config reads
them), with the local stack's values, applied to this process and restored when the stack stops.

Handlers share this process's ``os.environ`` (and function workers inherit it at spawn), which is why
one stack runs per process at a time. After every change the layer's caches (settings, clients,
model bindings) are reset so the next invocation reads the new values.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from emulator.config import StackConfig
from manifest import Manifest


def auth_environment(cfg: StackConfig, oidc_issuer: str | None) -> dict[str, str]:
    """The authorizer's settings as Terraform sets them (only the variables of the chosen mode)."""
    env = {"TOKEN_SOURCES": ",".join(cfg.token_sources)}
    if cfg.auth_mode == "hs256":
        return {**env, "JWT_SECRET": cfg.jwt_secret}
    return {**env, "AUTH_MODE": "oidc", "OIDC_ISSUER": oidc_issuer or "", "OIDC_AUDIENCE": cfg.oidc_audience}


def handler_environment(cfg: StackConfig, manifest: Manifest, *, stage: str, management_url: str, lambda_url: str,
                        dynamodb_endpoint: str, oidc_issuer: str | None = None) -> dict[str, str]:
    prefix = cfg.table_prefix if cfg.table_prefix is not None else f"{manifest.service}-{stage}-"
    return {
        "CONNECTIONS_TABLE": f"{prefix}connections",
        "ROOM_MEMBERS_TABLE": f"{prefix}room_members",
        "MESSAGES_TABLE": f"{prefix}messages",
        "AWS_REGION": cfg.region,
        "AWS_DEFAULT_REGION": cfg.region,
        "MANAGEMENT_ENDPOINT": management_url,
        "FANOUT_FUNCTION_NAME": manifest.fanout_worker,
        "CLIENT_ACTIONS": ",".join(manifest.client_actions),
        **auth_environment(cfg, oidc_issuer),
        "LOG_LEVEL": cfg.handler_log_level,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # noqa: S105 - dummy credentials for local endpoints
        "AWS_SESSION_TOKEN": "local",
        **cfg.extra_env,
    }


class ProcessEnvironment:
    """Sets variables in ``os.environ`` (and the layer on ``sys.path``), remembering what to restore."""

    def __init__(self, shared_dir: Path) -> None:
        self.shared_dir = shared_dir
        self._saved: dict[str, str | None] = {}

    def apply(self, env: dict[str, str]) -> None:
        for key, value in env.items():
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        shared = str(self.shared_dir)
        if shared not in sys.path:
            sys.path.insert(0, shared)
        reset_layer_caches()

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()
        reset_layer_caches()


def reset_layer_caches() -> None:
    """chat caches settings, model bindings and AWS clients per container: forget them all."""
    try:
        from chat import clients
    except ImportError:  # the layer is not importable (yet): nothing is cached
        return
    clients.reset()
