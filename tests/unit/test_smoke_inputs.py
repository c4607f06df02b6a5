"""tools/smoke.py's inputs: what it reads from terraform outputs, tfvars, SSM and its settings, and the
clear error it gives (step 'inputs', exit 2) when one is missing. No sockets: nothing here connects."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("smoke", ROOT / "tools" / "smoke.py")
smoke = importlib.util.module_from_spec(_spec)
sys.modules["smoke"] = smoke
_spec.loader.exec_module(smoke)

OUTPUTS = {
    "websocket_url": {"value": "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev"},
    "management_endpoint": {"value": "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"},
    "table_names": {"value": {"connections": "wschat-dev-connections", "messages": "wschat-dev-messages"}},
}


def tf_outputs(returncode: int = 0, stdout: str = "", stderr: str = ""):
    """A stand-in for running tools/tf.py: records the command, answers what tf.py would."""
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, returncode, stdout, stderr)

    run.calls = calls
    return run


def test_outputs_come_from_tf_py_for_that_environment():
    # GIVEN tools/tf.py answering ENV=prod's outputs
    run = tf_outputs(stdout=json.dumps(OUTPUTS))
    # WHEN the smoke reads them
    values = smoke.deployed_outputs("prod", run)
    # THEN it asked tf.py (which refuses another ENV's state) for prod's outputs as JSON
    assert run.calls[0][1:] == [str(ROOT / "tools" / "tf.py"), "--env", "prod", "outputs", "--json"]
    assert values["websocket_url"] == OUTPUTS["websocket_url"]["value"]


def test_an_uninitialised_environment_is_bad_input_quoting_tf_py():
    # GIVEN tf.py refusing: ENV=dev has no initialised state here
    run = tf_outputs(1, stderr="+ terraform output\ntf: ENV=dev is not initialised: run `make tf-init ENV=dev`\n")
    # THEN the smoke stops with that reason
    with pytest.raises(smoke.BadInput, match=r"no outputs for ENV=dev: tf: ENV=dev is not initialised"):
        smoke.deployed_outputs("dev", run)


def test_an_environment_never_applied_is_bad_input_saying_to_apply():
    # GIVEN an initialised but empty state: `terraform output -json` prints {}
    with pytest.raises(smoke.BadInput, match=r"missing websocket_url, management_endpoint, table_names.*make apply ENV=dev"):
        smoke.deployed_outputs("dev", tf_outputs(stdout="{}\n"))


def test_output_that_is_not_json_is_bad_input():
    with pytest.raises(smoke.BadInput, match="printed no JSON object"):
        smoke.deployed_outputs("dev", tf_outputs(stdout="Warning: No outputs found\n"))


def test_prod_tokens_carry_the_issuer_and_audience_its_tfvars_require():
    # GIVEN prod's outputs and a secret store that records which parameter was read where
    read = []

    def secret_of(name, region):
        read.append((name, region))
        return "s3cret-from-ssm"

    # WHEN the target is resolved for ENV=prod
    target = smoke.target_from_env("prod", outputs=lambda env: {k: v["value"] for k, v in OUTPUTS.items()},
                                   secret_of=secret_of)
    # THEN the secret is prod's parameter in prod's region, and the claims are prod's
    assert read == [("/wschat/prod/jwt-secret", "eu-west-1")]
    assert target.claims == {"iss": "https://auth.example.com/", "aud": "wschat"}
    assert (target.connections_table, target.region) == ("wschat-dev-connections", "eu-west-1")
    # AND the secret never shows in the target's repr (it may end up in a log line)
    assert "s3cret" not in repr(target)


def test_dev_tokens_carry_no_issuer_or_audience():
    target = smoke.target_from_env("dev", outputs=lambda env: {k: v["value"] for k, v in OUTPUTS.items()},
                                   secret_of=lambda name, region: "x")
    assert target.claims == {}


def test_the_secret_is_read_from_ssm_with_decryption(env):
    with mock_aws():
        boto3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/wschat/dev/jwt-secret", Type="SecureString", Value="from-ssm")
        assert smoke.ssm_secret("/wschat/dev/jwt-secret", "eu-west-1") == "from-ssm"


def test_a_missing_secret_parameter_is_bad_input_saying_how_to_create_it(env):
    with mock_aws(), pytest.raises(smoke.BadInput, match=r"missing secret: SSM parameter '/wschat/dev/jwt-secret' "
                                                         r"does not exist in eu-west-1.*put-parameter"):
        smoke.ssm_secret("/wschat/dev/jwt-secret", "eu-west-1")


@pytest.mark.parametrize(("url", "endpoint", "region"), [
    ("wss://abc123.execute-api.eu-west-1.amazonaws.com/dev", "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
     "eu-west-1"),
    ("ws://127.0.0.1:8080/dev", "http://127.0.0.1:8080/dev", None),
    ("wss://chat.example.com/prod", "https://chat.example.com/prod", None),
])
def test_the_management_endpoint_and_region_follow_from_the_url(url, endpoint, region):
    assert smoke.management_endpoint_for(url) == endpoint
    assert smoke.region_of(url) == region


@pytest.mark.parametrize(("unset", "args", "said"), [
    (["JWT_SECRET"], ["--wss-url", "ws://127.0.0.1:9/dev", "--connections-table", "t"], "missing secret"),
    ([], ["--wss-url", "ws://127.0.0.1:9/dev"], "CONNECTIONS_TABLE"),
    ([], ["--wss-url", "https://example.com/dev", "--connections-table", "t"], "WSS_URL must be ws[s]://"),
    ([], ["--wss-url", "ws://127.0.0.1:9", "--connections-table", "t"], "no stage path"),
    ([], ["--wss-url", "ws://127.0.0.1:9/dev?token=x", "--connections-table", "t"], "must not carry a query string"),
    (["AWS_REGION", "AWS_DEFAULT_REGION"], ["--wss-url", "ws://127.0.0.1:9/dev", "--connections-table", "t"],
     "no region"),
    ([], ["--wss-url", "ws://127.0.0.1:9/dev", "--connections-table", "t", "--management-endpoint", "ftp://x/dev"],
     "MANAGEMENT_ENDPOINT must be an http(s):// URL"),
    ([], ["--env", "staging"], "no terraform/envs/staging.tfvars (environments: dev, prod)"),
], ids=["no-secret", "no-table", "not-websocket", "no-stage", "query-string", "no-region", "bad-endpoint", "unknown-env"])
def test_bad_input_stops_at_the_inputs_step_with_exit_2(env, capsys, unset, args, said):
    # GIVEN settings with one thing missing or wrong
    for name in ("WSS_URL", "ENV", "CONNECTIONS_TABLE", "MANAGEMENT_ENDPOINT", "JWT_SECRET_PARAMETER", *unset):
        env.delenv(name, raising=False)
    # WHEN the smoke starts
    code = smoke.main(args)
    # THEN it stops before connecting, naming the inputs step and what is wrong
    err = capsys.readouterr()
    assert code == 2
    assert "FAILED at step 'inputs' (bad input)" in err.err and said in err.err
    assert "ok" not in err.out
