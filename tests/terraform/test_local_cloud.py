"""The local cloud of `make tf-e2e` (tools/local_cloud): moto's server plus the AWS behaviours our
Terraform needs and moto 5.2.5 lacks, each as AWS documents it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.terraform.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from local_cloud import LocalCloud  # noqa: E402


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud.start() as started:
        yield started


@pytest.fixture
def websocket_api(cloud):
    v2 = cloud.client("apigatewayv2")
    api = v2.create_api(Name="t", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    v2.create_stage(ApiId=api["ApiId"], StageName="dev")
    return v2, api


def lambda_zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_websocket_api_endpoint_is_wss_as_on_aws(websocket_api):
    _, api = websocket_api
    assert api["ApiEndpoint"] == f"wss://{api['ApiId']}.execute-api.eu-west-1.amazonaws.com"


def test_a_deployment_can_be_created_read_listed_updated_and_deleted(websocket_api):
    v2, api = websocket_api
    created = v2.create_deployment(ApiId=api["ApiId"], Description="first")
    assert created["DeploymentStatus"] == "DEPLOYED"
    assert v2.get_deployment(ApiId=api["ApiId"], DeploymentId=created["DeploymentId"])["Description"] == "first"
    v2.update_deployment(ApiId=api["ApiId"], DeploymentId=created["DeploymentId"], Description="second")
    assert [d["Description"] for d in v2.get_deployments(ApiId=api["ApiId"])["Items"]] == ["second"]
    v2.delete_deployment(ApiId=api["ApiId"], DeploymentId=created["DeploymentId"])
    with pytest.raises(ClientError, match="NotFoundException"):
        v2.get_deployment(ApiId=api["ApiId"], DeploymentId=created["DeploymentId"])


def test_a_stage_keeps_its_deployment_and_can_be_updated(websocket_api):
    v2, api = websocket_api
    deployment = v2.create_deployment(ApiId=api["ApiId"], StageName="dev")["DeploymentId"]
    assert v2.get_stage(ApiId=api["ApiId"], StageName="dev")["DeploymentId"] == deployment

    later = v2.create_deployment(ApiId=api["ApiId"])["DeploymentId"]
    v2.update_stage(ApiId=api["ApiId"], StageName="dev", DeploymentId=later,
                    DefaultRouteSettings={"ThrottlingRateLimit": 5.0, "ThrottlingBurstLimit": 10})
    stage = v2.get_stage(ApiId=api["ApiId"], StageName="dev")
    assert stage["DeploymentId"] == later
    assert stage["DefaultRouteSettings"] == {"ThrottlingRateLimit": 5.0, "ThrottlingBurstLimit": 10}


def test_a_stage_cannot_point_at_a_deployment_that_does_not_exist(websocket_api):
    v2, api = websocket_api
    with pytest.raises(ClientError, match="NotFoundException"):
        v2.update_stage(ApiId=api["ApiId"], StageName="dev", DeploymentId="nope42")


def test_a_functions_recursion_config_defaults_to_terminate_and_can_allow_loops(cloud):
    iam, lam = cloud.client("iam"), cloud.client("lambda")
    role = iam.create_role(RoleName="loop-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="loop-test", Role=role, Runtime="python3.12", Handler="handler.lambda_handler",
                        Code={"ZipFile": lambda_zip()})
    assert lam.get_function_recursion_config(FunctionName="loop-test")["RecursiveLoop"] == "Terminate"
    lam.put_function_recursion_config(FunctionName="loop-test", RecursiveLoop="Allow")
    assert lam.get_function_recursion_config(FunctionName="loop-test")["RecursiveLoop"] == "Allow"
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        lam.put_function_recursion_config(FunctionName="loop-test", RecursiveLoop="Sometimes")


def test_the_managed_cloudwatch_policy_for_api_gateway_exists(cloud):
    policy = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    assert cloud.client("iam").get_policy(PolicyArn=policy)["Policy"]["PolicyName"] == "AmazonAPIGatewayPushToCloudWatchLogs"


def test_the_server_exits_when_the_process_that_started_it_is_killed(tmp_path):
    # GIVEN a harness process holding a local cloud
    script = tmp_path / "harness.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / 'tools')!r})
        from local_cloud import LocalCloud
        with LocalCloud.start() as cloud:
            print(cloud.process.pid, flush=True)
            time.sleep(600)
    """))
    harness = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    server_pid = int(harness.stdout.readline())
    assert Path(f"/proc/{server_pid}").exists()

    # WHEN the harness dies without cleaning up (SIGKILL)
    harness.kill()
    harness.wait()

    # THEN the server notices its stdin closing and exits
    try:
        pidfd = os.pidfd_open(server_pid)
    except ProcessLookupError:
        return  # already gone
    try:
        exited, _, _ = select.select([pidfd], [], [], 15)  # readable once the process has terminated
    finally:
        os.close(pidfd)
    assert exited, f"moto server {server_pid} outlived the harness that started it"
