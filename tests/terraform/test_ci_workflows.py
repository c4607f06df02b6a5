"""The GitHub workflows, parsed: what they run, in which order, under which approval and concurrency,
with which pinned actions, and what GitHub's expression expansion does with hostile inputs.

GitHub expands `${{ ... }}` by pasting the value into the text before the runner sees it; a value
pasted into a `run:` script is code. `expand` below does the same with a context of our choosing,
so the tests can show where a hostile input would land.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from manifest import load_manifest
from tests.terraform.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
ENVIRONMENTS = sorted(p.stem for p in (ROOT / "terraform" / "envs").glob("*.tfvars"))
FUNCTIONS = list(load_manifest(ROOT).functions)
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
# Every action, pinned to the commit its release tag points at. Checked by hand against each action
# repository's tags (`git rev-parse <tag>^{commit}`): change a pin only together with this table.
PINNED = {
    "actions/checkout": ("11d5960a326750d5838078e36cf38b85af677262", "v4.4.0"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "hashicorp/setup-terraform": ("b9cd54a3c349d3f38e8881555d616ced269862dd", "v3.1.2"),
    "aws-actions/configure-aws-credentials": ("7474bc4690e29a8392af63c5b98e7449536d5c3a", "v4.3.1"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "actions/github-script": ("f28e40c7f34bde8b3046d885e986cb6290c5673b", "v7.1.0"),
}
HOSTILE = ["send_message; echo INJECTED", "$(echo INJECTED)", "`echo INJECTED`", "send_message\necho INJECTED",
           'send_message" && echo INJECTED "', "send_message\n::error::INJECTED", "../../etc/passwd"]


# ---- reading workflows ---------------------------------------------------------------------------

def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def steps(workflow: dict[str, Any]):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def make_calls(step: dict[str, Any]) -> list[str]:
    """Targets of every `make ...` command in a run step (VAR=value arguments skipped)."""
    calls = []
    for line in step.get("run", "").splitlines():
        words = shlex.split(line.split(" #")[0]) if re.match(r"\s*make\s", line) else []
        calls += [w for w in words[1:] if "=" not in w and not w.startswith("-")]
    return calls


def make_lines(job: dict[str, Any], target: str) -> list[str]:
    return [line.strip() for step in job.get("steps", []) for line in step.get("run", "").splitlines()
            if re.match(rf"\s*make\s+{re.escape(target)}(\s|$)", line)]


def step_index(job: dict[str, Any], predicate) -> int:
    return next(i for i, step in enumerate(job["steps"]) if predicate(step))


def uses(step: dict[str, Any], action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def make_targets() -> set[str]:
    targets = set()
    for path in [ROOT / "Makefile", *sorted((ROOT / "make").glob("*.mk"))]:
        targets |= set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", path.read_text(), re.M))
    return targets


def lookup(path: str, context: dict[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def expand(text: Any, context: dict[str, Any]) -> Any:
    """GitHub's expansion of `${{ a.b.c }}` in a string: the value pasted in as text. Other
    expressions (functions, operators) are left as they are."""
    if not isinstance(text, str):
        return text

    def value(match: re.Match[str]) -> str:
        expr = match.group(1)
        if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", expr):
            return match.group(0)
        try:
            return str(lookup(expr, context))
        except KeyError:
            return match.group(0)

    return EXPRESSION.sub(value, text)


def deploy_calls() -> list[tuple[str, str, dict[str, Any]]]:
    """(workflow, job, with:) of every job calling the reusable deploy workflow."""
    found = []
    for path in FILES:
        for job_name, job in yaml.safe_load(path.read_text())["jobs"].items():
            if job.get("uses") == "./.github/workflows/terraform-deploy.yml":
                found.append((path.name, job_name, job["with"]))
    return found


# ---- the set of workflows and what they call -------------------------------------------------------

def test_there_are_the_pr_main_promotion_deploy_and_redeploy_workflows():
    assert {p.name for p in FILES} == {"terraform-pr.yml", "terraform-apply.yml", "terraform-promote-prod.yml",
                                       "terraform-deploy.yml", "redeploy-function.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_job_calls_only_existing_make_targets_or_an_existing_workflow(path):
    workflow = yaml.safe_load(path.read_text())
    known = make_targets()
    for job_name, job in workflow["jobs"].items():
        if "uses" in job:
            assert (ROOT / job["uses"]).is_file(), f"{path.name}:{job_name} calls a missing workflow {job['uses']}"
            continue
        calls = [target for step in job["steps"] for target in make_calls(step)]
        assert calls, f"{path.name}:{job_name} runs no make target"
        assert set(calls) <= known, f"{path.name}:{job_name}: unknown targets {set(calls) - known}"


def test_the_make_call_reader_sees_the_targets_of_a_line():
    assert make_calls({"run": 'make plan ENV="$TF_ENV" PLAN_FLAGS=--no-lock # why\nmake lint unit'}) == \
        ["plan", "lint", "unit"]
    assert make_calls({"run": "echo make nothing"}) == []


# ---- security: credentials, pins, inputs -----------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_static_aws_keys_and_oidc_with_an_environment_wherever_aws_is_used(path):
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    workflow = yaml.safe_load(text)
    for job_name, job in workflow["jobs"].items():
        if any(uses(step, "aws-actions/configure-aws-credentials") for step in job.get("steps", [])):
            assert job["permissions"]["id-token"] == "write", job_name
            assert job.get("environment"), f"{job_name} reaches AWS without an environment"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_verified_commit_sha_with_its_version_in_a_comment(path):
    used = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", path.read_text(), re.M)
    assert used
    for ref, comment in used:
        if ref.startswith("./"):  # a workflow of this repository, same commit
            continue
        action, _, sha = ref.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{ref}: not pinned to a full commit SHA"
        assert action in PINNED, f"{action}: not among the verified pins (add it to PINNED after checking its tag)"
        assert (sha, comment.strip()) == (PINNED[action][0], f"# {PINNED[action][1]}"), ref


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_script_text(path):
    # Values reach scripts through `env:` only; `run:` and github-script's `script:` hold no `${{ }}`.
    for job_name, step in steps(yaml.safe_load(path.read_text())):
        for code in (step.get("run", ""), (step.get("with") or {}).get("script", "")):
            assert "${{" not in code, f"{path.name}:{job_name}: {step.get('name')}"


def hostile_context(value: str) -> dict[str, Any]:
    """Every input and event field an outsider or a dispatcher controls, set to ``value``."""
    event = {"inputs": {"function": value, "environment": value},
             "pull_request": {"title": value, "body": value, "number": 1,
                              "head": {"ref": value, "sha": value, "repo": {"full_name": value}}},
             "workflow_run": {"head_branch": value, "head_sha": value, "display_title": value}}
    return {"inputs": {"function": value, "environment": value, "ref": value},
            "github": {"event": event, "head_ref": value, "sha": "0" * 40, "repository": "org/repo"},
            "matrix": {"env": "dev"}, "env": {}, "vars": {}}


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_hostile_inputs_expanded_as_github_does_never_land_in_a_script(path, value):
    context = hostile_context(value)
    for job_name, step in steps(yaml.safe_load(path.read_text())):
        for code in (step.get("run", ""), (step.get("with") or {}).get("script", "")):
            assert value not in expand(code, context), f"{path.name}:{job_name}: {step.get('name')}"


# ---- redeploy-function: hostile inputs through the job, as the runner would run it ------------------

def redeploy_job() -> dict[str, Any]:
    return load("redeploy-function.yml")["jobs"]["redeploy"]


def test_redeploy_offers_exactly_the_manifest_functions_and_the_environments():
    inputs = triggers(load("redeploy-function.yml"))["workflow_dispatch"]["inputs"]
    assert inputs["function"]["type"] == "choice" and inputs["function"]["required"] is True
    assert inputs["function"]["options"] == FUNCTIONS
    assert inputs["environment"]["type"] == "choice" and sorted(inputs["environment"]["options"]) == ENVIRONMENTS


def run_job(job: dict[str, Any], context: dict[str, Any], workdir: Path) -> tuple[int, str, list[list[str]]]:
    """Runs the job's `run:` steps in order the way the runner does (expanded text, `bash -e` or
    `python`, step env over job env, stop at the first failure) with a `make` that only records its
    arguments. Returns (exit status of the last step, its output, the recorded make calls)."""
    bin_dir, calls = workdir / "bin", workdir / "make-calls.jsonl"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "make"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake.chmod(0o755)
    base = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(workdir), "LANG": "C.UTF-8"}
    job_env = {k: expand(v, context) for k, v in (job.get("env") or {}).items()}
    code, output = 0, ""
    for step in job["steps"]:
        if "run" not in step:
            continue  # actions (checkout, setup-python, credentials) do not run scripts of ours
        script = expand(step["run"], context)
        env = {**base, **job_env, **{k: expand(v, context) for k, v in (step.get("env") or {}).items()}}
        shell = [sys.executable, "-c", script] if step.get("shell") == "python" else ["bash", "-e", "-c", script]
        done = subprocess.run(shell, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        code, output = done.returncode, done.stdout + done.stderr
        if code != 0:
            break
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return code, output, recorded


def dispatch(function: str, environment: str = "dev") -> dict[str, Any]:
    return {"inputs": {"function": function, "environment": environment},
            "github": {"event": {"inputs": {"function": function, "environment": environment}}}}


def test_redeploy_runs_unit_tests_then_deploy_fn_for_a_manifest_function(tmp_path):
    # GIVEN a dispatch naming a real function and environment
    # WHEN the job's steps run
    code, output, calls = run_job(redeploy_job(), dispatch("send_message", "prod"), tmp_path)
    # THEN the check passes and make is asked for the unit tests, then exactly that redeploy
    assert code == 0, output
    assert calls == [["unit"], ["deploy-fn", "FN=send_message", "ENV=prod"]]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_function_name_is_refused_before_any_shell_or_make_sees_it(tmp_path, value):
    # GIVEN a dispatch whose function is hostile text (the API lets a caller send any string)
    # WHEN the job's steps run
    code, output, calls = run_job(redeploy_job(), dispatch(value), tmp_path)
    # THEN the check refuses it, make never runs, and nothing was executed
    assert code == 1
    assert "redeploy: refused: function" in output and calls == []
    assert not any(line.strip() == "INJECTED" for line in output.splitlines())
    # AND the refusal cannot be read as a workflow command (the value stays on one line, quoted)
    assert not any(line.startswith("::") for line in output.splitlines())
    assert len(output.strip().splitlines()) == 1


def test_a_hostile_environment_is_refused_too(tmp_path):
    code, output, calls = run_job(redeploy_job(), dispatch("send_message", "dev; echo INJECTED"), tmp_path)
    assert code == 1 and "environment" in output and calls == []


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_even_past_the_check_the_deploy_script_hands_the_value_to_make_as_one_word(tmp_path, value):
    # GIVEN only the deploy step (as if the check were gone), with a hostile value
    job = redeploy_job()
    deploy = next(step for step in job["steps"] if "deploy-fn" in make_calls(step))
    # WHEN it runs
    code, output, calls = run_job({**job, "steps": [deploy]}, dispatch(value), tmp_path)
    # THEN the shell ran nothing of it: make got the value verbatim, as one argument
    assert code == 0, output
    assert calls == [["deploy-fn", f"FN={value}", "ENV=dev"]]
    assert "INJECTED" not in output


# ---- pull requests -------------------------------------------------------------------------------

def test_pull_requests_lint_test_build_and_run_the_static_checks():
    checks = load("terraform-pr.yml")["jobs"]["checks"]
    calls = [t for step in checks["steps"] for t in make_calls(step)]
    for target in ("lint", "unit", "build", "tf-static", "tf-test", "checkov"):
        assert target in calls, target


def test_pull_requests_plan_every_environment_read_only_without_the_state_lock():
    workflow = load("terraform-pr.yml")
    assert "pull_request" in triggers(workflow)
    plan = workflow["jobs"]["plan"]
    assert sorted(plan["strategy"]["matrix"]["env"]) == ENVIRONMENTS
    assert plan["environment"] == "plan-${{ matrix.env }}"
    lines = make_lines(plan, "plan")
    assert lines and all("PLAN_FLAGS=--no-lock" in line for line in lines), lines
    # never applied: no apply target and no plan artifact for a later job to pick up
    calls = {t for job in workflow["jobs"].values() for step in job.get("steps", []) for t in make_calls(step)}
    assert not calls & {"apply", "apply-plan", "destroy", "deploy-fn"}
    uploads = [step for _, step in steps(workflow) if uses(step, "actions/upload-artifact")]
    assert all("tfplan" not in step["with"]["name"] for step in uploads)
    # OIDC is not issued to forks: only same-repository pull requests plan
    assert "head.repo.full_name == github.repository" in plan["if"]


def test_pull_request_plans_are_commented_once_per_environment():
    plan = load("terraform-pr.yml")["jobs"]["plan"]
    summary = step_index(plan, lambda s: "plan-summary" in make_calls(s))
    comment = step_index(plan, lambda s: uses(s, "actions/github-script"))
    assert summary < comment
    script = plan["steps"][comment]["with"]["script"]
    assert "terraform-plan:${tfEnv}" in script and "updateComment" in script
    assert plan["permissions"]["pull-requests"] == "write"


def test_pull_requests_validate_and_apply_every_environment_locally_with_provider_6():
    job = load("terraform-pr.yml")["jobs"]["tf-e2e"]
    assert sorted(job["strategy"]["matrix"]["env"]) == ENVIRONMENTS
    assert job["env"]["TF_E2E_PROVIDER_VERSION"] == "~> 6.0"
    assert job["env"]["TF_ENV"] == "${{ matrix.env }}"
    calls = [t for step in job["steps"] for t in make_calls(step)]
    assert calls == ["tf-validate", "tf-e2e"]
    assert make_lines(job, "tf-e2e") == ['make tf-e2e ENV="$TF_ENV"']
    assert any(uses(step, "hashicorp/setup-terraform") for step in job["steps"])
    assert "if" not in job, "forks get the local apply too: it needs no credentials"


def test_tf_e2e_honours_the_provider_pin_the_workflow_sets():
    sys.path.insert(0, str(ROOT / "tools"))
    import tf_e2e

    source = Path(tf_e2e.__file__).read_text()
    assert 'os.environ.get("TF_E2E_PROVIDER_VERSION")' in source


# ---- main: plan on main, apply that artifact in the same run, smoke -----------------------------

def deploy() -> dict[str, Any]:
    return load("terraform-deploy.yml")


def test_a_push_to_main_deploys_dev_from_the_pushed_commit():
    workflow = load("terraform-apply.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    dev = workflow["jobs"]["dev"]
    assert dev["uses"] == "./.github/workflows/terraform-deploy.yml"
    assert dev["with"] == {"environment": "dev", "ref": "${{ github.sha }}"}
    assert dev["permissions"]["id-token"] == "write"
    assert "checks" in dev["needs"]


def test_the_deploy_plans_on_the_deployed_commit_taking_the_lock_and_uploads_plan_zips_and_lock_file():
    plan = deploy()["jobs"]["plan"]
    checkout = next(step for step in plan["steps"] if uses(step, "actions/checkout"))
    assert checkout["with"]["ref"] == "${{ inputs.ref }}"
    lines = make_lines(plan, "plan")
    assert lines == ['make plan ENV="$TF_ENV"'], "the plan that is applied takes the state lock"
    upload = plan["steps"][step_index(plan, lambda s: uses(s, "actions/upload-artifact"))]
    paths = upload["with"]["path"].split()
    assert paths == ["build/terraform/", "build/functions/*.zip", "build/layer.zip", "build/crypto-layer-*.zip",
                     "terraform/.terraform.lock.hcl"]
    # upload-artifact >= 4.4 drops hidden files unless told: the lock file would silently be missing
    assert upload["with"]["include-hidden-files"] is True
    assert upload["with"]["if-no-files-found"] == "error"
    assert step_index(plan, lambda s: "plan" in make_calls(s)) < step_index(plan, lambda s: uses(s, "actions/upload-artifact"))


def test_the_apply_job_applies_that_artifact_in_the_same_run_without_rebuilding_then_smokes():
    jobs = deploy()["jobs"]
    apply, plan = jobs["apply"], jobs["plan"]
    assert apply["needs"] == "plan"
    calls = [t for step in apply["steps"] for t in make_calls(step)]
    assert not {"build", "plan", "apply"} & set(calls), "the apply job must not rebuild or re-plan"
    download = apply["steps"][step_index(apply, lambda s: uses(s, "actions/download-artifact"))]
    upload = plan["steps"][step_index(plan, lambda s: uses(s, "actions/upload-artifact"))]
    assert download["with"]["name"] == upload["with"]["name"]  # the same artifact ...
    assert "run-id" not in download["with"]  # ... of this very run
    order = [step_index(apply, lambda s, t=t: t in make_calls(s)) for t in ("tf-init", "apply-plan", "smoke")]
    assert step_index(apply, lambda s: uses(s, "actions/download-artifact")) < order[0] < order[1] < order[2]
    assert make_lines(apply, "smoke") == ['make smoke ENV="$TF_ENV"']
    # apply only what was planned: skipped when the plan changes nothing
    assert apply["if"] == "needs.plan.outputs.has_changes == 'true'"


def test_apply_uses_exactly_the_providers_the_plan_resolved():
    apply = deploy()["jobs"]["apply"]
    recorded = step_index(apply, lambda s: "sha256sum terraform/.terraform.lock.hcl" in s.get("run", ""))
    init = apply["steps"][step_index(apply, lambda s: "tf-init" in make_calls(s))]
    assert step_index(apply, lambda s: uses(s, "actions/download-artifact")) < recorded
    assert "sha256sum --check" in init["run"].split("make tf-init", 1)[1], "the lock file is checked after init"


def test_the_provider_lock_file_is_not_committed():
    assert ".terraform.lock.hcl" in (ROOT / ".gitignore").read_text().split()
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.terraform.lock.hcl"], capture_output=True,
                             text=True, check=False)
    assert tracked.returncode != 0 or tracked.stdout.strip() == ""


# ---- approvals, concurrency and promotion ----------------------------------------------------------

@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_is_applied_under_its_own_approval_environment(environment):
    jobs = deploy()["jobs"]
    context = {"inputs": {"environment": environment}}
    assert expand(jobs["apply"]["environment"], context) == environment
    assert expand(jobs["plan"]["environment"], context) == f"plan-{environment}"


def test_applies_of_one_environment_queue_and_are_never_cancelled():
    groups = {}
    for environment in ENVIRONMENTS:
        concurrency = deploy()["jobs"]["apply"]["concurrency"]
        assert concurrency["cancel-in-progress"] is False
        assert concurrency["queue"] == "max"  # more than one waiting run, none replaced
        groups[environment] = expand(concurrency["group"], {"inputs": {"environment": environment}})
    assert len(set(groups.values())) == len(ENVIRONMENTS), "one group per environment"
    # a manual redeploy waits in the same queue as that environment's applies
    redeploy = load("redeploy-function.yml")["concurrency"]
    assert (redeploy["cancel-in-progress"], redeploy["queue"]) == (False, "max")
    for environment in ENVIRONMENTS:
        assert expand(redeploy["group"], {"inputs": {"environment": environment}}) == groups[environment]


@pytest.mark.parametrize(("name", "group"), [("terraform-apply.yml", "terraform-dev"),
                                             ("terraform-promote-prod.yml", "terraform-prod")])
def test_each_environment_deploys_one_run_at_a_time_in_order(name, group):
    # plan -> apply -> smoke of one run finishes before the next run plans that environment
    concurrency = load(name)["concurrency"]
    assert concurrency == {"group": group, "cancel-in-progress": False, "queue": "max"}


def test_pull_request_runs_may_be_superseded_because_they_write_nothing():
    concurrency = load("terraform-pr.yml")["concurrency"]
    assert concurrency["cancel-in-progress"] is True
    assert "pull_request.number" in concurrency["group"]


def test_prod_is_promoted_after_dev_succeeded_for_the_same_commit_under_its_own_approval():
    workflow = load("terraform-promote-prod.yml")
    run = triggers(workflow)["workflow_run"]
    assert run == {"workflows": [load("terraform-apply.yml")["name"]], "types": ["completed"], "branches": ["main"]}
    prod = workflow["jobs"]["prod"]
    for condition in ("workflow_run.conclusion == 'success'", "workflow_run.event == 'push'",
                      "head_repository.full_name == github.repository"):
        assert condition in prod["if"]
    assert prod["uses"] == "./.github/workflows/terraform-deploy.yml"
    assert prod["with"] == {"environment": "prod", "ref": "${{ github.event.workflow_run.head_sha }}"}
    # its own approval: the apply job's environment is `prod`, not dev's
    assert expand(deploy()["jobs"]["apply"]["environment"], {"inputs": prod["with"]}) == "prod"


def test_every_deploy_call_names_a_known_environment():
    calls = deploy_calls()
    assert sorted(with_["environment"] for _, _, with_ in calls) == ENVIRONMENTS


# ---- the Lambda runtime's Python everywhere --------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_ci_runs_python_3_12_the_lambda_runtime(path):
    workflow = yaml.safe_load(path.read_text())
    assert load_manifest(ROOT).runtime == "python3.12"
    setups = [step for _, step in steps(workflow) if uses(step, "actions/setup-python")]
    assert all(step["with"]["python-version"] == "3.12" for step in setups)
    if setups:  # tools/bootstrap.sh would otherwise prefer a python3.11 found on the runner
        assert workflow["env"]["PYTHON"] == "python3.12"
    for job_name, job in workflow["jobs"].items():
        if any(make_calls(step) for step in job.get("steps", [])):
            assert any(uses(step, "actions/setup-python") for step in job["steps"]), job_name
