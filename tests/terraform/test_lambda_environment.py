"""The environment Terraform gives every function is exactly what shared/chat/config.py reads."""

from __future__ import annotations

import re
import shutil

import pytest

from chat import config
from manifest import manifest_path
from tests.terraform.conftest import (
    API_ID,
    MANIFEST,
    MODULES,
    REGION,
    ROOT,
    TABLE_NAMES,
    TF,
    TYPED_MANIFEST,
    as_expression,
    blocks,
    evaluate,
    evaluate_functions,
    load_hcl,
)

KNOWN = set(config.REQUIRED) | set(config.OPTIONAL)
SECRET_READERS = {n for n, fn in MANIFEST["functions"].items() if fn["permissions"].get("jwtSecret")}


def test_every_variable_terraform_sets_is_one_config_py_reads(functions_eval):
    for name, environment in functions_eval["environment"].items():
        assert set(environment) <= KNOWN, (name, set(environment) - KNOWN)


def test_every_required_variable_is_set_on_every_function(functions_eval):
    for name, environment in functions_eval["environment"].items():
        assert set(config.REQUIRED) <= set(environment), name
        assert all(environment[key] for key in config.REQUIRED), name


def test_reserved_aws_region_is_left_to_the_lambda_runtime(functions_eval):
    for environment in functions_eval["environment"].values():
        assert "AWS_REGION" not in environment and "AWS_DEFAULT_REGION" not in environment


def test_table_names_endpoint_fanout_worker_and_client_actions_are_the_real_ones(functions_eval):
    environment = functions_eval["environment"]["send_message"]
    assert environment["CONNECTIONS_TABLE"] == TABLE_NAMES["connections"]
    assert environment["ROOM_MEMBERS_TABLE"] == TABLE_NAMES["room_members"]
    assert environment["MESSAGES_TABLE"] == TABLE_NAMES["messages"]
    assert environment["MANAGEMENT_ENDPOINT"] == f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/dev"
    worker = TYPED_MANIFEST.fanout_worker  # the manifest's fanoutWorker role
    assert environment["FANOUT_FUNCTION_NAME"] == functions_eval["function_names"][worker] == f"wschat-test-{worker}"
    assert environment["CLIENT_ACTIONS"] == ",".join(TYPED_MANIFEST.client_actions)
    assert environment["LOG_LEVEL"] == "INFO"


def test_root_passes_the_manifest_fanout_worker_and_custom_routes_as_the_manifest_package_reads_them():
    # GIVEN the root's module call / WHEN its two expressions are evaluated over manifest.json
    call = blocks(TF, "module")["functions"]
    result = evaluate(TF, [], {}, {"worker": as_expression(call["fanout_function"]),
                                   "actions": as_expression(call["client_actions"])},
                      extra_locals='locals {\n  manifest = jsondecode(file("${path.root}/manifest.json"))\n}\n',
                      setup=lambda work: shutil.copy(manifest_path(ROOT), manifest_path(work)))
    # THEN Terraform derives what the Python readers (emulator, tests) derive
    assert result == {"worker": TYPED_MANIFEST.fanout_worker, "actions": list(TYPED_MANIFEST.client_actions)}


def test_only_the_secret_reader_learns_the_jwt_parameter_and_never_the_secret(functions_eval):
    for name, environment in functions_eval["environment"].items():
        assert "JWT_SECRET" not in environment, name
        assert ("JWT_SECRET_PARAMETER" in environment) == (name in SECRET_READERS), name
        assert ("TOKEN_SOURCES" in environment) == (name in SECRET_READERS), name
        assert "AUTH_MODE" not in environment and not any(k.startswith("OIDC_") for k in environment), name


def test_oidc_mode_gives_the_authorizer_the_provider_and_no_secret_parameter():
    # GIVEN oidc mode with a Cognito-like provider and the token only in Sec-WebSocket-Protocol
    oidc = {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "audiences": ["c1", "c2"],
            "user_claim": "cognito:username", "token_use": ["id"]}
    result = evaluate_functions({"environment": "local.environment"}, auth_mode="oidc", oidc=oidc,
                                jwt_secret_parameter="", token_sources=["subprotocol"])
    # THEN exactly the authorizer gets these settings (names config.py reads), and no JWT secret hint
    expected = {"TOKEN_SOURCES": "subprotocol", "AUTH_MODE": "oidc", "OIDC_ISSUER": oidc["issuer"],
                "OIDC_AUDIENCE": "c1,c2", "OIDC_USER_CLAIM": "cognito:username", "OIDC_TOKEN_USE": "id",
                "OIDC_HTTP_TIMEOUT_MS": "2000"}
    for name, environment in result["environment"].items():
        auth = {k: v for k, v in environment.items() if k in expected or k.startswith(("JWT_", "OIDC_"))}
        assert auth == (expected if name in SECRET_READERS else {}), name
        assert set(environment) <= KNOWN, name


@pytest.mark.parametrize("overrides, message", [
    ({"auth_mode": "oidc", "oidc": {"issuer": "http://idp.example.com", "audiences": ["a"]}}, "needs oidc.issuer"),
    ({"auth_mode": "oidc", "oidc": {"issuer": "https://idp.example.com"}}, "needs oidc.issuer"),
    ({"auth_mode": "oidc", "oidc": {"issuer": "https://idp.example.com", "audiences": ["a"], "token_use": ["refresh"]}},
     "oidc.token_use may list only"),
    ({"auth_mode": "hs256", "jwt_secret_parameter": ""}, "needs jwt_secret_parameter"),
    ({"auth_mode": "rs256"}, "auth_mode must be hs256 or oidc"),
    ({"token_sources": ["cookie"]}, "token_sources must list query and/or subprotocol"),
])
def test_inconsistent_auth_settings_are_refused_at_plan_time(overrides, message):
    with pytest.raises(AssertionError, match=message):
        evaluate_functions({"environment": "local.environment"}, **overrides)


def test_issuer_and_audience_are_set_only_when_given():
    # GIVEN an issuer and an audience / WHEN evaluated / THEN the authorizer gets both, others neither
    result = evaluate_functions({"environment": "local.environment"}, jwt_issuer="https://issuer", jwt_audience="chat")
    for name, environment in result["environment"].items():
        expected = {"JWT_ISSUER": "https://issuer", "JWT_AUDIENCE": "chat"} if name in SECRET_READERS else {}
        assert {k: v for k, v in environment.items() if k in ("JWT_ISSUER", "JWT_AUDIENCE")} == expected


def test_tunables_reach_every_function_but_cannot_override_terraform_managed_names():
    # GIVEN a tunable and (sneakily) a table name in function_settings
    tunables = {"RATE_LIMIT_PER_MINUTE": "60"}
    result = evaluate_functions({"environment": "local.environment"}, function_settings=tunables)
    assert all(env["RATE_LIMIT_PER_MINUTE"] == "60" for env in result["environment"].values())

    # WHEN a Terraform-managed or unknown name is passed / THEN validation rejects it
    for bad in ({"CONNECTIONS_TABLE": "other"}, {"NOT_A_SETTING": "1"}, {"AWS_REGION": "us-east-1"}):
        with pytest.raises(AssertionError, match="function_settings accepts only"):
            evaluate_functions({"environment": "local.environment"}, function_settings=bad)


def test_the_tunables_allow_list_names_only_optional_settings_of_config_py():
    text = (MODULES / "functions" / "variables.tf").read_text()
    block = text[text.index('variable "function_settings"'):]
    block = block[: block.index("error_message")]
    allowed = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', block))
    assert allowed and allowed <= set(config.OPTIONAL)
    managed = {"MANAGEMENT_ENDPOINT", "FANOUT_FUNCTION_NAME", "CLIENT_ACTIONS", "LOG_LEVEL", "AWS_REGION", "JWT_SECRET",
               "JWT_SECRET_PARAMETER", "JWT_ISSUER", "JWT_AUDIENCE"}
    assert not allowed & managed


def test_lambda_functions_take_their_environment_from_the_evaluated_locals():
    lambda_fn = load_hcl(MODULES / "functions" / "main.tf")["resource"]
    body = next(r["aws_lambda_function"]["this"] for r in lambda_fn if "aws_lambda_function" in r)
    assert body["environment"][0]["variables"] == "${local.environment[each.key]}"
