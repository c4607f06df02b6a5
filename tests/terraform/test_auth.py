"""Authorizer settings at the root (hs256 / oidc, token sources) and the optional Cognito module:
validations evaluated by the embedded Terraform, the module's shape, and (where a real `terraform`
and the AWS provider mirror exist) an apply of the module against moto's Cognito."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.terraform.conftest import MODULE_VARS, MODULES, ROOT, TF, blocks, evaluate, first, resource

sys.path.insert(0, str(ROOT / "tools"))
import tf_toolchain  # noqa: E402

COGNITO = MODULES / "cognito"
ROOT_VARS = {"region": "eu-west-1"}
def module_validation(**tfvars):
    """The functions module's variables with these auth settings (the root validates nothing itself:
    it passes auth_mode, token_sources, jwt_secret_parameter and the oidc settings, merged with the
    Cognito module's issuer and client id when that is on, to this module)."""
    return evaluate(MODULES / "functions", ["variables.tf"], {**MODULE_VARS["functions"], **tfvars},
                    {"mode": "var.auth_mode"})


COGNITO_OIDC = {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool", "audiences": ["client"],
                "user_claim": "cognito:username", "token_use": ["id"]}


# --- auth settings, as the module that uses them validates them ---------------------------------------
@pytest.mark.parametrize("tfvars", [
    {"jwt_secret_parameter": "/wschat/dev/jwt-secret"},
    {"auth_mode": "oidc", "jwt_secret_parameter": "", "oidc": {"issuer": "https://tenant.eu.auth0.com/", "audiences": ["abc"]}},
    {"auth_mode": "oidc", "jwt_secret_parameter": "", "oidc": COGNITO_OIDC},
    {"auth_mode": "oidc", "jwt_secret_parameter": "", "oidc": COGNITO_OIDC, "token_sources": ["subprotocol"]},
], ids=["hs256", "oidc-external", "oidc-cognito", "oidc-cognito-subprotocol-only"])
def test_consistent_auth_settings_are_accepted(tfvars):
    assert module_validation(**tfvars)["mode"] == tfvars.get("auth_mode", "hs256")


@pytest.mark.parametrize("tfvars, message", [
    ({"jwt_secret_parameter": ""}, "needs jwt_secret_parameter"),
    ({"auth_mode": "oidc"}, "needs oidc.issuer"),
    ({"auth_mode": "oidc", "oidc": {"issuer": "https://idp.example.com"}}, "at least one oidc.audiences"),
    ({"auth_mode": "oidc", "oidc": {"issuer": "http://idp.example.com", "audiences": ["a"]}}, "needs oidc.issuer \\(https"),
    ({"auth_mode": "sso"}, "auth_mode must be hs256 or oidc"),
    ({"token_sources": []}, "token_sources must list"),
    ({"token_sources": ["query", "query"]}, "token_sources must list"),
], ids=["hs256-no-secret", "oidc-no-issuer", "oidc-no-audience", "oidc-http-issuer", "unknown-mode", "no-source", "twice"])
def test_inconsistent_auth_settings_fail_with_a_clear_message(tfvars, message):
    with pytest.raises(AssertionError, match=message):
        module_validation(**tfvars)


def test_the_root_passes_the_auth_settings_to_the_module_that_validates_them():
    call = blocks(TF, "module")["functions"]
    assert (call["auth_mode"], call["token_sources"], call["oidc"]) == (
        "${var.auth_mode}", "${var.token_sources}", "${local.oidc}")


def test_cognito_is_off_by_default_and_created_once_when_enabled():
    defaults = evaluate(TF, ["variables.tf"], {**ROOT_VARS, "jwt_secret_parameter": "/p"},
                        {"cognito": "var.cognito.enabled", "mode": "var.auth_mode", "sources": "var.token_sources"})
    assert defaults == {"cognito": False, "mode": "hs256", "sources": ["query", "subprotocol"]}
    call = blocks(TF, "module")["cognito"]
    assert call["count"] == "${var.cognito.enabled ? 1 : 0}"
    outputs = blocks(TF, "output")
    assert {"oidc_issuer", "oidc_client_id", "cognito_user_pool_id", "cognito_hosted_ui_url", "auth_mode"} <= set(outputs)


# --- the Cognito module -----------------------------------------------------------------------------
def test_the_app_client_is_a_public_client_without_implicit_flows():
    client = resource(COGNITO, "aws_cognito_user_pool_client", "this")
    assert client["generate_secret"] is False  # browsers cannot keep a secret
    assert "ALLOW_USER_SRP_AUTH" in client["explicit_auth_flows"]
    assert client["prevent_user_existence_errors"] == "ENABLED"
    assert client["enable_token_revocation"] is True
    assert "implicit" not in json.dumps(client)  # tokens never in a redirect URL fragment


def test_the_pool_requires_strong_passwords_verified_recovery_and_offers_mfa():
    pool = resource(COGNITO, "aws_cognito_user_pool", "this")
    policy = first(pool["password_policy"])
    assert policy["minimum_length"] == "${var.password_minimum_length}"
    assert all(policy[k] is True for k in ("require_lowercase", "require_uppercase", "require_numbers", "require_symbols"))
    variables = blocks(COGNITO, "variable")
    assert variables["password_minimum_length"]["default"] >= 12
    assert variables["mfa"]["default"] == "OPTIONAL" and variables["self_sign_up"]["default"] is False
    assert variables["deletion_protection"]["default"] is True


def test_the_issuer_output_is_the_pools_oidc_issuer_url():
    outputs = blocks(COGNITO, "output")
    assert outputs["issuer"]["value"] == "https://cognito-idp.${var.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
    assert outputs["client_id"]["value"] == "${aws_cognito_user_pool_client.this.id}"


# --- apply against moto (real terraform + the AWS provider from a filesystem mirror) -----------------
@pytest.fixture
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    server.stop()


def test_the_cognito_module_applies_against_moto_and_replans_clean(tmp_path, moto_endpoint):
    try:
        toolchain = tf_toolchain.resolve(os.environ.get("TERRAFORM", "terraform"), build=tmp_path)
    except tf_toolchain.ToolchainMissing as e:
        pytest.skip(f"real Terraform checks skipped: {e}")
    terraform = toolchain.terraform
    # GIVEN the module with every optional part on (hosted UI domain, OAuth callbacks, MFA)
    shutil.copytree(COGNITO, tmp_path / "cognito")
    (tmp_path / "main.tf").write_text(f'''
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = ">= 5.100, < 7.0" }}
  }}
}}
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    cognitoidp = "{moto_endpoint}"
  }}
}}
module "cognito" {{
  source              = "./cognito"
  name_prefix         = "wschat-moto"
  region              = "us-east-1"
  callback_urls       = ["http://localhost:8080/callback"]
  domain_prefix       = "wschat-moto-test"
  allow_password_auth = true
  deletion_protection = false
}}
output "issuer" {{
  value = module.cognito.issuer
}}
output "client_id" {{
  value = module.cognito.client_id
}}
''')
    env = {**toolchain.run_env(), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}

    def tf(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([terraform, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    assert tf("init", "-input=false", "-backend=false").returncode == 0
    applied = tf("apply", "-auto-approve", "-input=false", "-no-color")
    assert applied.returncode == 0, applied.stderr[-3000:]
    # THEN the pool and client exist in (moto's) Cognito, the outputs are the OIDC settings ...
    outputs = json.loads(tf("output", "-json").stdout)
    import boto3

    idp = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=moto_endpoint,
                       aws_access_key_id="test", aws_secret_access_key="test")
    pool_id = outputs["issuer"]["value"].rsplit("/", 1)[1]
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=outputs["client_id"]["value"])
    assert client["UserPoolClient"]["ClientName"] == "wschat-moto-web"
    # ... and a second plan wants no change (the module's settings round-trip)
    replan = tf("plan", "-input=false", "-no-color", "-detailed-exitcode")
    assert replan.returncode == 0, replan.stdout[-3000:]
