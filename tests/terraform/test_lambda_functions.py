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
    ROOT,
    TF,
    TYPED_MANIFEST,
    blocks,
    evaluate_functions,
    expand_resource,
    first,
    resource,
)

FUNCTIONS = MODULES / "functions"
FAKES = {
    "aws_iam_role.this[each.key].arn": '"role-${each.key}"',
    "aws_lambda_layer_version.this.arn": '"LAYER"',
    "aws_lambda_layer_version.crypto[*].arn": '(var.auth_mode == "oidc" ? ["CRYPTO"] : [])',
}
OIDC = {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "audiences": ["client123"]}


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


def test_in_oidc_mode_only_the_token_verifier_gets_the_crypto_layer():
    tfvars = {**FUNCTIONS_VARS, "build_dir": "build", "auth_mode": "oidc", "oidc": OIDC, "jwt_secret_parameter": ""}
    layers = expand_resource(FUNCTIONS, "aws_lambda_function", "this", ["layers"],
                             ["variables.tf", "policies.tf", "environment.tf"], tfvars, FAKES,
                             setup=write_dummy_zips, extra_locals=FUNCTIONS_LOCALS)
    verifier = MANIFEST["authorizer"]["function"]
    assert layers[verifier]["layers"] == ["LAYER", "CRYPTO"]
    assert all(fn["layers"] == ["LAYER"] for name, fn in layers.items() if name != verifier)


def test_crypto_layer_is_the_zip_built_for_the_function_architecture_and_only_in_oidc_mode():
    layer = resource(FUNCTIONS, "aws_lambda_layer_version", "crypto")
    assert layer["count"] == '${var.auth_mode == "oidc" ? 1 : 0}'
    assert blocks(FUNCTIONS, "locals")["crypto_layer_zip"] == "${var.build_dir}/crypto-layer-${var.architecture}.zip"
    assert layer["filename"] == "${local.crypto_layer_zip}"
    assert layer["compatible_architectures"] == ["${var.architecture}"]
    assert "make build ARCH=" in first(first(layer["lifecycle"])["precondition"])["error_message"]


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


def test_failed_async_events_go_to_the_on_failure_destination_after_one_retry():
    config = resource(FUNCTIONS, "aws_lambda_function_event_invoke_config", "async")
    assert config["for_each"] == "${local.dlq_names}" and config["maximum_retry_attempts"] == 1
    assert first(first(config["destination_config"])["on_failure"])["destination"] == "${aws_sqs_queue.dlq[each.key].arn}"


def test_only_a_self_invoking_function_may_loop_and_its_chain_is_capped_in_code():
    # GIVEN the manifest: fanout hands work to itself / THEN only it gets RecursiveLoop = Allow
    recursion = resource(FUNCTIONS, "aws_lambda_function_recursion_config", "self_invoking")
    assert recursion["recursive_loop"] == "Allow" and recursion["for_each"] == "${local.self_invoking_functions}"
    evaluated = evaluate_functions({"loops": "local.self_invoking_functions"})["loops"]
    assert evaluated == [n for n, fn in MANIFEST["functions"].items() if n in fn["permissions"]["invoke"]] == ["fanout"]
    assert "FANOUT_MAX_HOPS" in (ROOT / "shared" / "chat" / "config.py").read_text()
