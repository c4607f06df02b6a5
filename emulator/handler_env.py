"""The handlers' environments: each function's, by Terraform's rules (emulator/function_env.py), with the
local stack's values; and their union, which the thread runtime applies to this process (restored when
the stack stops).

In the thread runtime handlers share this process's ``os.environ``, which is why one stack runs per
process at a time; after every change the layer's caches (settings, clients, model bindings) are reset
so the next invocation reads the new values. Function workers never see it: each sandbox starts with
exactly its own function's environment (emulator/sandboxes.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from emulator.config import StackConfig
from emulator.function_env import (
    EnvironmentInputs,
    auth_environment,
    local_cloud_environment,
    split_extra_env,
    terraform_environments,
)
from manifest import Manifest


def environment_inputs(cfg: StackConfig, manifest: Manifest, *, stage: str, management_url: str,
                       oidc_issuer: str | None = None) -> EnvironmentInputs:
    """What environment.tf's variables are for this stack (``extra_env``: tunables, or authorizer settings)."""
    prefix = cfg.table_prefix if cfg.table_prefix is not None else f"{manifest.service}-{stage}-"
    settings, auth_overrides = split_extra_env(cfg.extra_env)
    return EnvironmentInputs(
        table_names={table: f"{prefix}{table}" for table in ("connections", "room_members", "messages")},
        management_endpoint=management_url,
        fanout_function_name=manifest.fanout_worker,
        client_actions=manifest.client_actions,
        log_level=cfg.handler_log_level,
        function_settings=settings,
        auth=auth_environment(auth_mode=cfg.auth_mode, token_sources=cfg.token_sources, jwt_secret=cfg.jwt_secret,
                              oidc_issuer=oidc_issuer, oidc_audience=cfg.oidc_audience, overrides=auth_overrides),
    )


def function_environments(cfg: StackConfig, manifest: Manifest, *, stage: str, management_url: str,
                          lambda_url: str, dynamodb_endpoint: str,
                          oidc_issuer: str | None = None) -> dict[str, dict[str, str]]:
    """Function name -> what Terraform gives it, plus the local endpoints (the sandboxes add what the
    Lambda runtime sets: emulator.function_env.lambda_runtime_environment)."""
    inputs = environment_inputs(cfg, manifest, stage=stage, management_url=management_url, oidc_issuer=oidc_issuer)
    local = local_cloud_environment(dynamodb_endpoint=dynamodb_endpoint, lambda_url=lambda_url)
    return {name: {**env, **local} for name, env in terraform_environments(manifest, inputs).items()}


def handler_environment(cfg: StackConfig, manifest: Manifest, *, stage: str, management_url: str, lambda_url: str,
                        dynamodb_endpoint: str, oidc_issuer: str | None = None) -> dict[str, str]:
    """The union of every function's environment (what the thread runtime's handlers share), with the
    region (set by the Lambda runtime) and without the sandboxes' shared-config guard."""
    union: dict[str, str] = {}
    for env in function_environments(cfg, manifest, stage=stage, management_url=management_url,
                                     lambda_url=lambda_url, dynamodb_endpoint=dynamodb_endpoint,
                                     oidc_issuer=oidc_issuer).values():
        union.update(env)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        union.pop(name, None)
    return {**union, "AWS_REGION": cfg.region, "AWS_DEFAULT_REGION": cfg.region}


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
