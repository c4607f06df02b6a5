"""The local stack gives each function exactly the environment Terraform gives it: environment.tf is
evaluated with a set of inputs, emulator/function_env.py is given the same inputs, and the two must be
equal function by function (the one documented substitution: the local authorizer gets the HS256
secret itself, JWT_SECRET, where Terraform gives it the SSM parameter's name)."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.function_env import EnvironmentInputs, auth_environment, terraform_environments
from tests.terraform.conftest import FUNCTIONS_VARS, TYPED_MANIFEST, evaluate_functions

SETTINGS = {"FANOUT_PAGE_SIZE": "50", "MAX_TEXT_CHARS": "2000"}


def emulator_environments(tf_inputs: dict[str, Any], function_names: dict[str, str],
                          auth: dict[str, str]) -> dict[str, dict[str, str]]:
    inputs = EnvironmentInputs(
        table_names=tf_inputs["table_names"],
        management_endpoint=tf_inputs["management_endpoint"],
        fanout_function_name=function_names[tf_inputs["fanout_function"]],
        client_actions=tuple(tf_inputs["client_actions"]),
        log_level=tf_inputs.get("log_level", "INFO"),
        function_settings=tf_inputs.get("function_settings", {}),
        auth=auth,
    )
    return terraform_environments(TYPED_MANIFEST, inputs)


def test_hs256_each_function_gets_what_terraform_gives_it():
    # GIVEN environment.tf evaluated with tunables and hs256 auth
    tf_inputs = {**FUNCTIONS_VARS, "function_settings": SETTINGS, "log_level": "DEBUG"}
    out = evaluate_functions({"environment": "local.environment", "function_names": "local.function_names"},
                             function_settings=SETTINGS, log_level="DEBUG")
    # WHEN the emulator derives its environments from the same inputs
    auth = auth_environment(auth_mode="hs256", token_sources=("query", "subprotocol"), jwt_secret="s3cret",
                            oidc_issuer=None, oidc_audience="", overrides={})
    local = emulator_environments(tf_inputs, out["function_names"], auth)
    # THEN they are equal, function by function (the secret itself in place of its parameter's name)
    terraform = {name: dict(env) for name, env in out["environment"].items()}
    for env in terraform.values():
        if env.pop("JWT_SECRET_PARAMETER", None) is not None:
            env["JWT_SECRET"] = "s3cret"
    assert local == terraform
    readers = [name for name, env in local.items() if "JWT_SECRET" in env]
    assert readers == [name for name, fn in TYPED_MANIFEST.functions.items() if fn.permissions.jwt_secret]


@pytest.mark.parametrize("audiences", [["web"], ["web", "cli"]])
def test_oidc_each_function_gets_what_terraform_gives_it(audiences):
    oidc = {"issuer": "https://idp.example.com", "audiences": audiences}
    out = evaluate_functions({"environment": "local.environment", "function_names": "local.function_names"},
                             auth_mode="oidc", oidc=oidc, token_sources=["subprotocol"])
    auth = auth_environment(auth_mode="oidc", token_sources=("subprotocol",), jwt_secret="",
                            oidc_issuer=oidc["issuer"], oidc_audience=",".join(audiences), overrides={})
    assert emulator_environments(FUNCTIONS_VARS, out["function_names"], auth) == out["environment"]
