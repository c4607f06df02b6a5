"""One Lambda function per manifest entry, from the prebuilt zips, with the manifest's sizing."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.terraform.conftest import (
    FUNCTIONS_LOCALS,
    FUNCTIONS_VARS,
    MANIFEST,
    MODULES,
    TF,
    TYPED_MANIFEST,
    blocks,
    expand_resource,
    first,
    resource,
)

FUNCTIONS = MODULES / "functions"
FAKES = {
    "aws_iam_role.this[each.key].arn": '"role-${each.key}"',
    "aws_lambda_layer_version.this.arn": '"LAYER"',
}


def write_dummy_zips(work):
    for name in MANIFEST["functions"]:
        path = work / "build" / "functions" / f"{name}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"zip of {name}".encode())


@pytest.fixture(scope="module")
def lambdas() -> dict:
    attributes = ["function_name", "role", "handler", "runtime", "architectures", "memory_size", "timeout",
                  "filename", "source_code_hash", "layers", "reserved_concurrent_executions"]
    tfvars = {**FUNCTIONS_VARS, "build_dir": "build", "reserved_concurrency": {TYPED_MANIFEST.fanout_worker: 50}}
    return expand_resource(FUNCTIONS, "aws_lambda_function", "this", attributes,
                           ["variables.tf", "policies.tf", "environment.tf"], tfvars, FAKES,
                           setup=write_dummy_zips, extra_locals=FUNCTIONS_LOCALS)


def test_one_function_per_manifest_entry(lambdas):
    assert set(lambdas) == set(MANIFEST["functions"])


@pytest.mark.parametrize("name", sorted(MANIFEST["functions"]))
def test_function_uses_its_zip_hash_role_layer_and_manifest_sizing(lambdas, name):
    fn, spec = lambdas[name], MANIFEST["functions"][name]
    assert fn["function_name"] == f"wschat-test-{name}"
    assert fn["role"] == f"role-{name}"
    assert fn["handler"] == spec["handler"] == "handler.lambda_handler"
    assert fn["runtime"] == "python3.12" and fn["architectures"] == ["arm64"]
    assert (fn["memory_size"], fn["timeout"]) == (spec["memory"], spec["timeout"])
    assert fn["filename"] == f"build/functions/{name}.zip"
    expected_hash = base64.b64encode(hashlib.sha256(f"zip of {name}".encode()).digest()).decode()
    assert fn["source_code_hash"] == expected_hash
    assert fn["layers"] == ["LAYER"]
    assert fn["reserved_concurrent_executions"] == (50 if name == "fanout" else -1)


def test_functions_trace_with_xray_and_log_to_their_own_retained_group():
    fn = resource(FUNCTIONS, "aws_lambda_function", "this")
    assert first(fn["tracing_config"]) == {"mode": "Active"}
    group = resource(FUNCTIONS, "aws_cloudwatch_log_group", "this")
    assert group["for_each"] == "${var.functions}"
    assert group["name"] == "${local.log_group_names[each.key]}"
    assert group["retention_in_days"] == "${var.log_retention_days}"


def test_layer_is_the_prebuilt_layer_zip_for_the_same_runtime_and_architecture():
    layer = resource(FUNCTIONS, "aws_lambda_layer_version", "this")
    assert blocks(FUNCTIONS, "locals")["layer_zip"] == "${var.build_dir}/layer.zip"
    assert layer["filename"] == "${local.layer_zip}"
    assert layer["source_code_hash"] == "${filebase64sha256(local.layer_zip)}"
    assert layer["compatible_runtimes"] == ["${var.runtime}"]
    assert layer["compatible_architectures"] == ["${var.architecture}"]


def test_root_passes_the_manifest_functions_runtime_and_arm64_default():
    call = blocks(TF, "module")["functions"]
    assert call["functions"] == "${local.manifest.functions}"
    assert call["runtime"] == "${local.manifest.runtime}" and MANIFEST["runtime"] == "python3.12"
    assert blocks(TF, "variable")["lambda_architecture"]["default"] == "arm64"
    assert blocks(TF, "locals")["build_dir"] == '${coalesce(var.build_dir, "${path.root}/../build")}'


def test_asynchronously_invoked_functions_get_a_dead_letter_queue():
    targets = {t for fn in MANIFEST["functions"].values() for t in fn["permissions"]["invoke"]}
    assert targets == {"fanout"}
    queue = resource(FUNCTIONS, "aws_sqs_queue", "dlq")
    assert queue["for_each"] == "${local.dlq_names}" and queue["sqs_managed_sse_enabled"] is True
