"""The CloudWatch dashboard, rendered from terraform/modules/monitoring/dashboard.tf with the embedded
Terraform and checked by the same code tf-e2e runs on the applied one (tools/tf_e2e_checks.py): valid
JSON on CloudWatch's grid, every metric one the code writes (chat.metrics.CATALOG) or AWS publishes, for
this stack's resources, and every metric of the catalogue on it. The check itself is shown to fail."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.terraform.conftest import (
    ACCOUNT,
    API_ID,
    MANIFEST,
    MODULE_VARS,
    MODULES,
    REGION,
    TABLE_NAMES,
    evaluate,
)

sys.path.insert(0, str(MODULES.parents[1] / "tools"))
import tf_e2e_checks as checks  # noqa: E402

PREFIX = "wschat-test"
DLQ = {"fanout": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{PREFIX}-fanout-dlq"}


class FakeCloudWatch:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def get_dashboard(self, DashboardName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        assert DashboardName == PREFIX
        return {"DashboardName": DashboardName, "DashboardBody": json.dumps(self.body)}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    tfvars = {**MODULE_VARS["monitoring"],
              "async_functions": {"fanout": {"function_name": f"{PREFIX}-fanout", "queue_name": f"{PREFIX}-fanout-dlq"}}}
    out = evaluate(MODULES / "monitoring", ["variables.tf", "dashboard.tf"], tfvars,
                   {"body": "local.dashboard_body", "kinds": "local.message_kinds", "reasons": "local.denial_reasons"})
    return {"body": json.loads(out["body"]), "kinds": out["kinds"], "reasons": out["reasons"]}


def check(body: dict[str, Any]) -> dict[str, int]:
    stack = checks.Stack(MANIFEST, {"name_prefix": PREFIX, "stage_name": "dev"}, {
        "dashboard_url": f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
                         f"#dashboards/dashboard/{PREFIX}",
        "api_id": API_ID, "table_names": TABLE_NAMES, "dead_letter_queue_urls": DLQ,
    }, REGION, ACCOUNT, lambda service: FakeCloudWatch(body))
    return checks.check_dashboard(stack)


def test_the_dashboard_charts_every_metric_the_code_writes_and_only_metrics_that_exist(rendered):
    # GIVEN the body Terraform renders for this manifest / WHEN checked as tf-e2e checks the applied one
    counted = check(rendered["body"])
    # THEN it passes: catalogue metrics x their emitters x breakdown values, plus AWS's per resource
    assert counted["dashboard_metrics"] >= len(checks.expected_custom_metrics(
        checks.Stack(MANIFEST, {"name_prefix": PREFIX}, {}, REGION, ACCOUNT, lambda s: None)))


def test_the_breakdown_values_in_terraform_are_the_codes():
    from chat import metrics

    out = evaluate(MODULES / "monitoring", ["variables.tf", "dashboard.tf"], MODULE_VARS["monitoring"],
                   {"kinds": "local.message_kinds", "reasons": "local.denial_reasons"})
    assert (tuple(out["kinds"]), tuple(out["reasons"])) == (metrics.KINDS, metrics.DENIAL_REASONS)


def rows(body: dict[str, Any], title: str) -> list[Any]:
    [widget] = [w for w in body["widgets"] if w.get("properties", {}).get("title") == title]
    return widget["properties"]["metrics"]


@pytest.mark.parametrize("breakage, complaint", [
    (lambda b: rows(b, "Deliveries: delivered / gone / failed").append(
        ["wschat", "DeliveriesLost", "FunctionName", f"{PREFIX}-fanout", {"stat": "Sum"}]), "never writes"),
    (lambda b: rows(b, "Lambda: errors").append(
        ["AWS/Lambda", "Errors", "FunctionName", f"{PREFIX}-nope", {"stat": "Sum"}]), "not of this stack"),
    (lambda b: rows(b, "Lambda: errors").append(
        ["AWS/Lambda", "Erors", "FunctionName", f"{PREFIX}-ping", {"stat": "Sum"}]), "not a metric it publishes"),
    (lambda b: b["widgets"].remove(next(w for w in b["widgets"] if w.get("properties", {}).get("title")
                                        == "Authorizer denials (by reason)")), "missing from the dashboard"),
    (lambda b: rows(b, "Lambda: throttles").pop(), "charted for every resource"),
    (lambda b: b["widgets"][1].update(x=20), "grid"),
    (lambda b: rows(b, "Failed deliveries (% of posts)")[0][0].update(expression="100 * f9 / d0"), "unknown ids"),
    (lambda b: rows(b, "Lambda: errors")[0][-1].update(stat="p100.5x"), "statistic"),
])
def test_the_check_refuses_a_dashboard_that_charts_what_does_not_exist(rendered, breakage, complaint):
    # GIVEN the rendered body, broken one way
    body = json.loads(json.dumps(rendered["body"]))
    breakage(body)
    # WHEN checked / THEN refused, saying what is wrong
    with pytest.raises(checks.CheckFailed, match=complaint):
        check(body)
