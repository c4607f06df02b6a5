"""Alarms for every function, the API and every table; the outputs the issue promises."""

from __future__ import annotations

from tests.terraform.conftest import MANIFEST, MODULES, TF, blocks, resource

MONITORING = MODULES / "monitoring"


def test_every_function_table_and_the_api_have_alarms_wired_to_the_optional_topic():
    call = blocks(TF, "module")["monitoring"]
    assert call["function_names"] == "${module.functions.function_names}"
    assert call["table_names"] == "${module.tables.table_names}"
    locals_ = blocks(MONITORING, "locals")
    assert "Errors" in locals_["lambda_alarms"] and "Throttles" in locals_["lambda_alarms"]
    assert set(locals_["api_alarms"].values()) == {"IntegrationError", "ExecutionError"}
    assert "ReadThrottleEvents" in locals_["table_alarms"] and "WriteThrottleEvents" in locals_["table_alarms"]
    for name in ("lambda", "api", "dynamodb"):
        alarm = resource(MONITORING, "aws_cloudwatch_metric_alarm", name)
        assert alarm["alarm_actions"] == "${local.alarm_actions}" == alarm["ok_actions"]
        assert alarm["treat_missing_data"] == "notBreaching"
    topic = resource(MONITORING, "aws_sns_topic", "alarms")
    assert topic["count"] == "${var.alarm_topic_enabled ? 1 : 0}"


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use():
    # CloudWatch cannot publish to a topic under the AWS managed aws/sns key: a customer key is required
    topic = resource(MONITORING, "aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == "${local.create_alarm_key ? aws_kms_key.alarms[0].arn : var.kms_key_arn}"
    assert blocks(MONITORING, "locals")["create_alarm_key"] == "${var.alarm_topic_enabled && var.kms_key_arn == null}"
    key = resource(MONITORING, "aws_kms_key", "alarms")
    assert key["enable_key_rotation"] is True
    assert "cloudwatch.amazonaws.com" in key["policy"] and "aws:SourceAccount" in key["policy"]


def test_root_outputs_the_url_endpoint_tables_and_functions():
    outputs = blocks(TF, "output")
    assert {"websocket_url", "management_endpoint", "table_names", "function_names"} <= set(outputs)
    assert outputs["websocket_url"]["value"] == "${module.api.websocket_url}"
    api_outputs = blocks(MODULES / "websocket_api", "output")
    assert api_outputs["websocket_url"]["value"] == "${aws_apigatewayv2_stage.this.invoke_url}"
    # Derived from the API's own endpoint (any partition's DNS suffix), never a hard-coded amazonaws.com;
    # tf-e2e compares the applied value with the API's endpoint.
    assert api_outputs["management_endpoint"]["value"] == (
        '${replace(aws_apigatewayv2_api.this.api_endpoint, "/^wss:/", "https:")}/${var.stage_name}'
    )
    assert blocks(TF, "module")["functions"]["management_endpoint"] == "${module.api.management_endpoint}"
    assert set(MANIFEST["functions"])  # function_names is keyed by manifest name (module.functions output)
