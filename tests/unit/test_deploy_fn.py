"""tools/deploy_fn.py against moto's Lambda API: one function's code changes, nothing else."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
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


def deploy_stack(client, role: str, layer: bytes, functions=("ping", "default")) -> str:
    """What `make apply` leaves: the shared layer (Terraform's version) and functions using it."""
    arn = client.publish_layer_version(LayerName=f"{PREFIX}-shared", Content={"ZipFile": layer},
                                       Description="chat package + pinned dependencies",
                                       CompatibleRuntimes=["python3.12"])["LayerVersionArn"]
    for name in functions:
        client.create_function(
            FunctionName=f"{PREFIX}-{name}", Runtime="python3.12", Role=role, Handler="handler.lambda_handler",
            Code={"ZipFile": make_zip("def lambda_handler(event, context):\n    return 'old'\n")},
            Architectures=["arm64"], MemorySize=128, Timeout=5, Layers=[arn],
        )
    return arn


@pytest.fixture(scope="module")
def layer_zip(tmp_path_factory) -> Path:
    """build/layer.zip as `make build` makes it (the wheels are fetched once per module)."""
    return deploy_fn.build_layer_zip(tmp_path_factory.mktemp("layer"))


@pytest.fixture
def lambda_api(env, layer_zip):
    """moto Lambda with wschat-test-ping/default deployed from an old zip on the current layer."""
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="ping-role", AssumeRolePolicyDocument=ASSUME)["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        deploy_stack(client, role, layer_zip.read_bytes())
        yield client


def published_versions(client, name: str = "ping") -> list[str]:
    return [v["Version"] for v in client.list_versions_by_function(FunctionName=f"{PREFIX}-{name}")["Versions"]
            if v["Version"] != "$LATEST"]


def test_deploy_fn_uploads_the_rebuilt_zip_and_publishes_nothing_unused(lambda_api, tmp_path, layer_zip):
    # GIVEN ping runs old code on the current layer
    before = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")

    # WHEN deploy-fn rebuilds ping from functions/ping and deploys it
    result = deploy_fn.deploy("ping", name_prefix=PREFIX, build_dir=tmp_path, layer_zip_path=layer_zip,
                              client=lambda_api)

    # THEN the function runs the rebuilt zip's code; no function version nobody invokes was published
    built = tmp_path / "functions" / "ping.zip"
    after = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")
    assert built.is_file()
    assert after["CodeSha256"] != before["CodeSha256"]
    assert after["CodeSha256"] == deploy_fn.code_sha256(built.read_bytes()) == result.code_sha256
    assert result.changed is True and result.layer_published is False
    assert published_versions(lambda_api) == []
    assert after["Layers"] == before["Layers"]


def test_deploy_fn_changes_only_the_code_not_the_configuration(lambda_api, tmp_path, layer_zip):
    # GIVEN a function whose memory, timeout and handler Terraform set
    keys = ("MemorySize", "Timeout", "Handler", "Runtime", "Role", "Layers")
    before = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")

    # WHEN its code is redeployed
    deploy_fn.deploy("ping", name_prefix=PREFIX, build_dir=tmp_path, layer_zip_path=layer_zip, client=lambda_api)

    # THEN its configuration is untouched
    after = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}


def test_deploy_fn_skips_an_upload_when_the_code_and_layer_are_already_deployed(lambda_api, tmp_path, layer_zip):
    # GIVEN ping already runs exactly this zip
    zip_path = tmp_path / "ping.zip"
    zip_path.write_bytes(make_zip("def lambda_handler(event, context):\n    return 'new'\n"))
    first = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=layer_zip, client=lambda_api)

    # WHEN the same zip is deployed again
    second = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=layer_zip, client=lambda_api)

    # THEN nothing is uploaded a second time
    assert first.changed is True
    assert second.changed is False and second.code_sha256 == first.code_sha256


def test_a_changed_shared_layer_is_published_and_the_function_points_at_it(lambda_api, tmp_path, layer_zip):
    # GIVEN a change under shared/chat: the function's own zip is identical, the layer is not
    zip_path = tmp_path / "ping.zip"
    zip_path.write_bytes(make_zip("def lambda_handler(event, context):\n    return 'same'\n"))
    deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=layer_zip, client=lambda_api)
    changed_layer = tmp_path / "layer.zip"
    changed_layer.write_bytes(make_zip("# python/chat/ with a change\n"))
    terraform_layer = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")["Layers"][0]["Arn"]

    # WHEN deploy-fn runs for ping
    result = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=changed_layer,
                              client=lambda_api)

    # THEN a new layer version holds the change and ping (only ping) uses it; default is named as still
    # on the older layer; Terraform's layer version is untouched
    ping = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")
    assert result.changed and result.layer_published
    assert [layer["Arn"] for layer in ping["Layers"]] == [result.layer_arn] != [terraform_layer]
    name, version = result.layer_arn.split(":")[-2:]
    published = lambda_api.get_layer_version(LayerName=name, VersionNumber=int(version))
    assert published["Content"]["CodeSha256"] == deploy_fn.code_sha256(changed_layer.read_bytes())
    assert result.functions_on_older_layers == [f"{PREFIX}-default"]
    assert lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-default")["Layers"][0]["Arn"] == terraform_layer
    assert ping["CodeSha256"] == result.previous_code_sha256  # the code itself did not change


def test_layer_versions_deploy_fn_published_are_deleted_once_nothing_uses_them(lambda_api, tmp_path, layer_zip):
    # GIVEN ping was moved to a deploy-fn layer version, then that change was reverted
    zip_path = tmp_path / "ping.zip"
    zip_path.write_bytes(make_zip("def lambda_handler(event, context):\n    return 'same'\n"))
    changed_layer = tmp_path / "layer.zip"
    changed_layer.write_bytes(make_zip("# a change\n"))
    first = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=changed_layer,
                             client=lambda_api)
    changed_layer.write_bytes(make_zip("# another change\n"))

    # WHEN the next deploy-fn publishes a newer layer for ping
    second = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=changed_layer,
                              client=lambda_api)

    # THEN the version nobody uses any more is gone, the one in use and Terraform's stay
    assert second.layer_versions_deleted == [first.layer_arn]
    remaining = [v["LayerVersionArn"] for v in
                 lambda_api.list_layer_versions(LayerName=f"{PREFIX}-shared")["LayerVersions"]]
    assert first.layer_arn not in remaining and second.layer_arn in remaining and len(remaining) == 2


def test_reverting_a_layer_change_points_back_at_terraforms_version(lambda_api, tmp_path, layer_zip):
    # GIVEN ping on a deploy-fn layer version
    zip_path = tmp_path / "ping.zip"
    zip_path.write_bytes(make_zip("def lambda_handler(event, context):\n    return 'same'\n"))
    terraform_layer = lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")["Layers"][0]["Arn"]
    changed_layer = tmp_path / "layer.zip"
    changed_layer.write_bytes(make_zip("# a change\n"))
    moved = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=changed_layer,
                             client=lambda_api)

    # WHEN the change is reverted and deploy-fn runs again
    back = deploy_fn.deploy("ping", name_prefix=PREFIX, zip_path=zip_path, layer_zip_path=layer_zip, client=lambda_api)

    # THEN ping is on Terraform's own version again, nothing new was published, the interim one is gone
    assert back.layer_arn == terraform_layer and back.layer_published is False
    assert back.layer_versions_deleted == [moved.layer_arn]
    assert lambda_api.get_function_configuration(FunctionName=f"{PREFIX}-ping")["Layers"][0]["Arn"] == terraform_layer


def test_deploy_fn_rejects_a_function_the_manifest_does_not_name(lambda_api, tmp_path):
    # GIVEN / WHEN a typo in FN / THEN it stops before touching AWS, naming the valid functions
    with pytest.raises(deploy_fn.DeployError, match="unknown function 'pign'.*ping"):
        deploy_fn.deploy("pign", name_prefix=PREFIX, build_dir=tmp_path, client=lambda_api)


@pytest.mark.parametrize("prefix", ["", "x'; echo INJECTED; '", "$(id)", "Wschat-dev", "a" * 41])
def test_deploy_fn_rejects_a_name_prefix_no_stack_can_have(lambda_api, tmp_path, prefix):
    with pytest.raises(deploy_fn.DeployError, match="name prefix"):
        deploy_fn.deploy("ping", name_prefix=prefix, build_dir=tmp_path, client=lambda_api)


def test_deploy_fn_refuses_a_function_without_the_stacks_layer(lambda_api, tmp_path, layer_zip):
    lambda_api.update_function_configuration(FunctionName=f"{PREFIX}-ping", Layers=[])
    with pytest.raises(deploy_fn.DeployError, match="make apply"):
        deploy_fn.deploy("ping", name_prefix=PREFIX, build_dir=tmp_path, layer_zip_path=layer_zip, client=lambda_api)


HOSTILE = ["send_message; echo INJECTED", "send_message && echo INJECTED", "$(echo INJECTED)",
           "`echo INJECTED`", "send_message\necho INJECTED", "$(shell echo INJECTED > {marker})", "%", "'send_message'"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("via", ["command line", "environment"])
def test_make_deploy_fn_refuses_a_hostile_fn_before_any_shell_sees_it(value, via, tmp_path):
    # GIVEN a value that would run a command if a shell (or make) expanded it
    marker = tmp_path / "ran"
    value = value.format(marker=marker)
    args = ["make", "--no-print-directory", "-n", "-C", str(ROOT), "deploy-fn"]
    env = {**os.environ, "PATH": os.environ["PATH"]}
    if via == "command line":
        args.append(f"FN={value}")
    else:
        env["FN"] = value
    # WHEN make is asked to deploy it (dry run: make prints the commands it would run)
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)
    # THEN make stops with the usage message; no command line carries the value and nothing ran
    assert done.returncode != 0
    assert "usage: make deploy-fn FN=<one of:" in done.stderr
    assert "INJECTED" not in done.stdout and "deploy_fn.py" not in done.stdout
    assert not marker.exists()


def test_make_deploy_fn_passes_a_manifest_name_and_nothing_else(tmp_path):
    done = subprocess.run(["make", "--no-print-directory", "-n", "-C", str(ROOT), "deploy-fn", "FN=send_message"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ".venv/bin/python tools/deploy_fn.py send_message"


def test_deploy_fn_cli_reaches_the_lambda_api_named_by_aws_endpoint_url(env, tmp_path, capsys, layer_zip):
    # GIVEN a moto server (a separate Lambda API endpoint) running wschat-test-ping on its layer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="ping-role", AssumeRolePolicyDocument=ASSUME)["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        deploy_stack(client, role, layer_zip.read_bytes(), functions=("ping",))

        # WHEN the CLI runs with no injected client (as `make deploy-fn` runs it), NAME_PREFIX from the
        # environment as make exports it
        env.setenv("NAME_PREFIX", PREFIX)
        rc = deploy_fn.main(["ping", "--build-dir", str(tmp_path), "--layer-zip", str(layer_zip)])

        # THEN it reports the new code hash, as the server now holds it
        report = json.loads(capsys.readouterr().out)
        assert rc == 0
        assert report["function_name"] == f"{PREFIX}-ping" and report["changed"] is True
        deployed = client.get_function(FunctionName=f"{PREFIX}-ping")["Configuration"]["CodeSha256"]
        assert report["code_sha256"] == deployed == deploy_fn.code_sha256((tmp_path / "functions" / "ping.zip").read_bytes())
    finally:
        server.stop()
