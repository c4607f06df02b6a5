"""tools/deploy_fn.py against moto's Lambda API: one function's code changes, nothing else."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("deploy_fn", ROOT / "tools" / "deploy_fn.py")
deploy_fn = importlib.util.module_from_spec(_spec)
sys.modules["deploy_fn"] = deploy_fn
_spec.loader.exec_module(deploy_fn)

PREFIX = "wschat-test"
ASSUME = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})


def make_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


@pytest.fixture
def lambda_api(env):
    """moto Lambda with wschat-test-ping deployed from an old zip; yields the client."""
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="ping-role", AssumeRolePolicyDocument=ASSUME)["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(
            FunctionName=f"{PREFIX}-ping",
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": make_zip("def lambda_handler(event, context):\n    return 'old'\n")},
            Architectures=["arm64"],
            MemorySize=128,
            Timeout=5,
        )
        yield client


def test_deploy_fn_uploads_the_rebuilt_zip_and_publishes_a_version(lambda_api, tmp_path):
    # GIVEN ping runs old code
    before = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")

    # WHEN deploy-fn rebuilds ping from functions/ping and deploys it
    result = deploy_fn.deploy("ping", name_prefix=PREFIX, build_dir=tmp_path, client=lambda_api)

    # THEN the function runs the rebuilt zip's code and a version pinned to it was published
    built = tmp_path / "functions" / "ping.zip"
    after = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")
    assert built.is_file()
    assert after["CodeSha256"] != before["CodeSha256"]
    assert after["CodeSha256"] == deploy_fn.code_sha256(built.read_bytes()) == result.code_sha256
    versions = lambda_api.list_versions_by_function(FunctionName=f"{PREFIX}-ping")["Versions"]
    published = [v for v in versions if v["Version"] != "$LATEST"]
    assert [v["Version"] for v in published] == [result.version]
    assert published[0]["CodeSha256"] == result.code_sha256
    assert result.changed is True


def test_deploy_fn_changes_only_the_code_not_the_configuration(lambda_api, tmp_path):
    # GIVEN a function whose memory, timeout and handler Terraform set
    keys = ("MemorySize", "Timeout", "Handler", "Runtime", "Role")
    before = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")

    # WHEN its code is redeployed
    deploy_fn.deploy("ping", name_prefix=PREFIX, build_dir=tmp_path, client=lambda_api)

    # THEN its configuration is untouched
    after = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}


def test_deploy_fn_skips_an_upload_when_the_code_is_already_deployed(lambda_api, tmp_path):
    # GIVEN ping already runs exactly this zip
    zip_path = tmp_path / "ping.zip"
    zip_path.write_bytes(make_zip("def lambda_handler(event, context):\n    return 'new'\n"))
    first = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, client=lambda_api)

    # WHEN the same zip is deployed again
    second = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, client=lambda_api)

    # THEN nothing is uploaded or published a second time
    assert first.changed is True
    assert second.changed is False and second.version is None
    versions = lambda_api.list_versions_by_function(FunctionName=f"{PREFIX}-ping")["Versions"]
    assert len([v for v in versions if v["Version"] != "$LATEST"]) == 1


def test_deploy_fn_rejects_a_function_the_manifest_does_not_name(lambda_api, tmp_path):
    # GIVEN / WHEN a typo in FN / THEN it stops before touching AWS, naming the valid functions
    with pytest.raises(deploy_fn.DeployError, match="unknown function 'pign'.*ping"):
        deploy_fn.deploy("pign", name_prefix=PREFIX, build_dir=tmp_path, client=lambda_api)


def test_deploy_fn_cli_reaches_the_lambda_api_named_by_aws_endpoint_url(env, tmp_path, capsys):
    # GIVEN a moto server (a separate Lambda API endpoint) running wschat-test-ping
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="ping-role", AssumeRolePolicyDocument=ASSUME)["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(
            FunctionName=f"{PREFIX}-ping", Runtime="python3.12", Role=role, Handler="handler.lambda_handler",
            Code={"ZipFile": make_zip("def lambda_handler(event, context):\n    return 'old'\n")},
        )

        # WHEN the CLI runs with no injected client (as `make deploy-fn` runs it)
        rc = deploy_fn.main(["ping", "--name-prefix", PREFIX, "--build-dir", str(tmp_path)])

        # THEN it reports the new code hash and the published version, as the server now holds them
        report = json.loads(capsys.readouterr().out)
        assert rc == 0
        assert report["function_name"] == f"{PREFIX}-ping" and report["version"] == "1"
        deployed = client.get_function(FunctionName=f"{PREFIX}-ping")["Configuration"]["CodeSha256"]
        assert report["code_sha256"] == deployed == deploy_fn.code_sha256((tmp_path / "functions" / "ping.zip").read_bytes())
    finally:
        server.stop()
