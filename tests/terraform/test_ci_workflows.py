"""The GitHub workflows parse, call only existing Makefile targets, and keep plan == apply."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from tests.terraform.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def make_targets() -> set[str]:
    targets = set()
    for path in [ROOT / "Makefile", *sorted((ROOT / "make").glob("*.mk"))]:
        targets |= set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", path.read_text(), re.M))
    return targets


def make_calls(step: dict) -> list[str]:
    """Targets of every `make ...` command in a run step (VAR=value arguments skipped)."""
    calls = []
    for line in step.get("run", "").splitlines():
        line = re.sub(r"\$\{\{.*?\}\}", "EXPR", line)
        words = shlex.split(line.split("#")[0]) if "make" in line else []
        if words[:1] == ["make"]:
            calls += [w for w in words[1:] if "=" not in w and not w.startswith("-")]
    return calls


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield job_name, step


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def test_there_are_the_three_workflows():
    assert {p.name for p in FILES} == {"terraform-pr.yml", "terraform-apply.yml", "redeploy-function.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_job_calls_only_existing_make_targets(path):
    workflow = yaml.safe_load(path.read_text())
    known = make_targets()
    for job_name, job in workflow["jobs"].items():
        calls = [target for step in job["steps"] for target in make_calls(step)]
        assert calls, f"{path.name}:{job_name} runs no make target"
        assert set(calls) <= known, f"{path.name}:{job_name}: unknown targets {set(calls) - known}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_static_aws_keys_and_oidc_wherever_aws_is_used(path):
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    workflow = yaml.safe_load(text)
    for job_name, job in workflow["jobs"].items():
        if any("configure-aws-credentials" in step.get("uses", "") for step in job["steps"]):
            assert job["permissions"]["id-token"] == "write", job_name
            assert job.get("environment"), f"{job_name} reaches AWS without an environment"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_user_inputs_never_enter_script_text(path):
    for _, step in steps(yaml.safe_load(path.read_text())):
        run = step.get("run", "")
        assert "${{ inputs." not in run and "${{ github.event." not in run, run


def test_pull_requests_lint_test_build_check_plan_and_publish_the_plan():
    workflow = load("terraform-pr.yml")
    assert "pull_request" in triggers(workflow)
    calls = [t for _, step in steps(workflow) for t in make_calls(step)]
    for target in ("lint", "unit", "build", "tf-static", "tf-validate", "tf-init", "plan", "plan-summary", "checkov"):
        assert target in calls, target
    uploads = [step for _, step in steps(workflow) if step.get("uses", "").startswith("actions/upload-artifact")]
    assert len(uploads) == 1
    paths = uploads[0]["with"]["path"]
    for part in ("build/terraform/", "build/functions/*.zip", "build/layer.zip", "terraform/.terraform.lock.hcl"):
        assert part in paths
    assert any("github-script" in step.get("uses", "") for _, step in steps(workflow))


def test_main_applies_the_downloaded_saved_plan_without_rebuilding():
    workflow = load("terraform-apply.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job = workflow["jobs"]["apply"]
    assert job["environment"]
    calls = [t for step in job["steps"] for t in make_calls(step)]
    assert "apply-plan" in calls
    assert not {"build", "plan", "apply"} & set(calls), "the apply job must not rebuild or re-plan"
    uses = [step.get("uses", "") for step in job["steps"]]
    download = next(i for i, u in enumerate(uses) if u.startswith("actions/download-artifact"))
    apply = next(i for i, step in enumerate(job["steps"]) if "apply-plan" in make_calls(step))
    assert download < apply
    upload_name = load("terraform-pr.yml")["jobs"]["plan"]["steps"]
    upload = next(s for s in upload_name if s.get("uses", "").startswith("actions/upload-artifact"))
    assert job["steps"][download]["with"]["name"].split("${{")[0] == upload["with"]["name"].split("${{")[0]


def test_functions_can_be_redeployed_one_by_one_by_hand():
    workflow = load("redeploy-function.yml")
    inputs = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert inputs["function"]["required"] is True
    calls = [t for _, step in steps(workflow) for t in make_calls(step)]
    assert "deploy-fn" in calls
    assert "inputs.function" in workflow["concurrency"]["group"]
