"""Each function's environment, by the rules Terraform applies (terraform/modules/functions/environment.tf):

    environment[fn] = merge(function_settings, common, fn.permissions.jwtSecret ? auth : {})

* ``common``: the three table names, MANAGEMENT_ENDPOINT, FANOUT_FUNCTION_NAME, CLIENT_ACTIONS, LOG_LEVEL;
* ``function_settings``: the tunables given to every function (the stack's ``extra_env`` that are
  not authorizer settings);
* ``auth``: only for the function that verifies tokens (``permissions.jwtSecret``): TOKEN_SOURCES and
  either the HS256 settings or AUTH_MODE=oidc with its OIDC_* settings, empty ones left out.

One substitution, because there is no SSM locally: the authorizer gets the HS256 secret itself
(``JWT_SECRET``) where Terraform gives it the parameter's name (``JWT_SECRET_PARAMETER``).
tests/terraform/test_emulator_environment_parity.py evaluates environment.tf and compares.

What Lambda itself adds to every function is :func:`lambda_runtime_environment` (region, the
function's name/memory/version/log group, handler, task root, TZ, credentials), and what the local
stack adds is :func:`local_cloud_environment` (the DynamoDB and Lambda endpoints, dummy credentials,
no shared AWS config files). A function worker process starts with exactly the sum of the three and
nothing of the gateway's own environment (emulator/function_worker.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from manifest import Function, Manifest

TABLES = ("connections", "room_members", "messages")
HS256_NAMES = ("JWT_SECRET", "JWT_SECRET_PARAMETER", "JWT_ISSUER", "JWT_AUDIENCE")
#: environment.tf's oidc settings that always have a value (a variable default), with that value.
OIDC_DEFAULTS = {"OIDC_USER_CLAIM": "sub", "OIDC_HTTP_TIMEOUT_MS": "2000"}
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",  # noqa: S105 - dummies
                     "AWS_SESSION_TOKEN": "local"}


def is_auth_setting(name: str) -> bool:
    """A setting that environment.tf gives only to the token verifier."""
    return name in ("AUTH_MODE", "TOKEN_SOURCES", *HS256_NAMES) or name.startswith("OIDC_")


@dataclass(frozen=True)
class EnvironmentInputs:
    """What environment.tf's variables are for one stack."""

    table_names: Mapping[str, str]  # connections, room_members, messages -> table name
    management_endpoint: str
    fanout_function_name: str
    client_actions: tuple[str, ...]
    log_level: str
    function_settings: Mapping[str, str] = field(default_factory=dict)
    auth: Mapping[str, str] = field(default_factory=dict)  # jwt_environment: the token verifier's settings
    metrics_namespace: str = "wschat"  # var.metrics_namespace (its default): where the EMF metrics go

    def common(self) -> dict[str, str]:
        return {
            "CONNECTIONS_TABLE": self.table_names["connections"],
            "ROOM_MEMBERS_TABLE": self.table_names["room_members"],
            "MESSAGES_TABLE": self.table_names["messages"],
            "MANAGEMENT_ENDPOINT": self.management_endpoint,
            "FANOUT_FUNCTION_NAME": self.fanout_function_name,
            "CLIENT_ACTIONS": ",".join(sorted(self.client_actions)),
            "LOG_LEVEL": self.log_level,
            "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
        }


def terraform_environments(manifest: Manifest, inputs: EnvironmentInputs) -> dict[str, dict[str, str]]:
    """environment.tf's ``local.environment``: function name -> its variables."""
    common = inputs.common()
    return {name: {**inputs.function_settings, **common, **(inputs.auth if fn.permissions.jwt_secret else {})}
            for name, fn in manifest.functions.items()}


def auth_environment(*, auth_mode: str, token_sources: tuple[str, ...], jwt_secret: str, oidc_issuer: str | None,
                     oidc_audience: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """jwt_environment of environment.tf for the local stack: hs256 (the secret itself, see the module
    docstring) or oidc (with environment.tf's defaults), then the caller's authorizer settings."""
    env = {"TOKEN_SOURCES": ",".join(token_sources)}
    if auth_mode == "hs256":
        env["JWT_SECRET"] = jwt_secret
    else:
        env.update({"AUTH_MODE": "oidc", "OIDC_ISSUER": oidc_issuer or "", "OIDC_AUDIENCE": oidc_audience,
                    **OIDC_DEFAULTS})
    env.update(overrides)
    return {key: value for key, value in env.items() if value != ""}


def lambda_runtime_environment(manifest: Manifest, fn: Function, *, region: str, functions_dir: Path,
                               log_stream: str) -> dict[str, str]:
    """The variables the Lambda runtime sets in every execution environment (reserved: Terraform never
    sets them). LAMBDA_TASK_ROOT is the function's folder (/var/task on Lambda)."""
    return {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{manifest.runtime}",
        "_HANDLER": fn.handler,
        "LAMBDA_TASK_ROOT": str(functions_dir / fn.name),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.environ.get("PATH", os.defpath),
    }


def local_cloud_environment(*, dynamodb_endpoint: str, lambda_url: str) -> dict[str, str]:
    """Where the local stack's services are, and dummy credentials (on Lambda: the role's)."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
        **LOCAL_CREDENTIALS,
        # a developer's ~/.aws/config (profiles, retry settings) must not reach a function: none exists on Lambda
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def split_extra_env(extra_env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A stack's extra settings as (function_settings, authorizer settings)."""
    settings = {k: v for k, v in extra_env.items() if not is_auth_setting(k)}
    auth = {k: v for k, v in extra_env.items() if is_auth_setting(k)}
    return settings, auth
