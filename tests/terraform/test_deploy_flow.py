"""tools/tf.py (make tf-init/plan/apply/destroy): one state per environment, apply runs only the saved
plan and only with the planned zips, a stale plan is named as such. A fake `terraform` logs its calls;
the real binary and provider run in test_real_terraform.py."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import pytest

from tests.terraform.conftest import MANIFEST, ROOT, TF

_spec = importlib.util.spec_from_file_location("tf_flow", ROOT / "tools" / "tf.py")
tf_flow = importlib.util.module_from_spec(_spec)
sys.modules["tf_flow"] = tf_flow
_spec.loader.exec_module(tf_flow)
import tf_toolchain  # noqa: E402  (tools/ is on sys.path once tf.py is loaded)

FAKE_TERRAFORM = """#!/bin/sh
echo "$TF_DATA_DIR :: $@" >> {log}
for a in "$@"; do case "$a" in -out=*) touch "${{a#-out=}}";; esac; done
case " $* " in
  *" show -json "*) cat {show};;
  *" apply "*) if [ -n "$FAKE_STALE" ]; then echo 'Error: Saved plan is stale' >&2; exit 1; fi;;
esac
"""


def initialise(terraform_dir, env: str, key: str, backend: str = "s3") -> None:
    """What `terraform init` leaves in the environment's data directory."""
    data = terraform_dir / ".terraform" / "envs" / env
    data.mkdir(parents=True, exist_ok=True)
    config = {"key": key, "bucket": "b"} if backend == "s3" else {"path": key}
    (data / "terraform.tfstate").write_text(json.dumps({"version": 3, "backend": {"type": backend, "config": config}}))


@pytest.fixture
def flow(tmp_path, monkeypatch):
    """tf.py with terraform/ and build/ in a temp dir, a fake `terraform`, a fake provider mirror."""
    build = tmp_path / "build"
    for name in MANIFEST["functions"]:
        (build / "functions").mkdir(parents=True, exist_ok=True)
        (build / "functions" / f"{name}.zip").write_bytes(name.encode())
    (build / "layer.zip").write_bytes(b"layer")
    (build / "crypto-layer-arm64.zip").write_bytes(b"crypto")
    terraform_dir = tmp_path / "terraform"
    shutil.copytree(TF / "envs", terraform_dir / "envs")
    log, show = tmp_path / "terraform.log", tmp_path / "show.json"
    show.write_text(json.dumps({"resource_changes": []}))
    fake = tmp_path / "fake-terraform"
    fake.write_text(FAKE_TERRAFORM.format(log=log, show=show))
    fake.chmod(0o755)
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io/hashicorp/aws/5.100.0" / tf_toolchain.platform_dir()).mkdir(parents=True)
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(mirror))
    monkeypatch.setattr(tf_flow, "BUILD", build)
    monkeypatch.setattr(tf_flow, "PLANS", build / "terraform")
    monkeypatch.setattr(tf_flow, "TF_DIR", terraform_dir)
    initialise(terraform_dir, "dev", "wschat/dev/terraform.tfstate")
    return {"build": build, "log": log, "show": show, "terraform": str(fake), "dir": terraform_dir, "tmp": tmp_path}


def calls(flow) -> list[str]:
    """Every terraform call but `terraform version` (the toolchain check)."""
    lines = flow["log"].read_text().splitlines() if flow["log"].exists() else []
    return [line for line in lines if not line.endswith(":: version")]


def run(flow, env: str, *args: str) -> int:
    return tf_flow.main(["--terraform", flow["terraform"], "--env", env, *args])


def test_plan_saves_the_plan_and_records_every_zip(flow):
    assert run(flow, "dev", "plan") == 0
    recorded = json.loads((flow["build"] / "terraform" / "dev.zips.json").read_text())
    assert set(recorded) == {"build/layer.zip", "build/crypto-layer-arm64.zip",
                             *(f"build/functions/{n}.zip" for n in MANIFEST["functions"])}
    assert any(" plan -input=false " in f" {line} " and "-out=" in line for line in calls(flow))


def test_every_terraform_call_of_an_environment_uses_its_own_data_directory(flow):
    run(flow, "dev", "plan")
    assert calls(flow) and all(line.startswith(".terraform/envs/dev :: ") for line in calls(flow))


def test_init_gives_each_environment_its_own_state_key(flow, tmp_path):
    backend = tmp_path / "backend.hcl"
    backend.write_text('bucket = "state"\nregion = "eu-west-1"\n')
    assert run(flow, "prod", "init", "--backend-config", str(backend)) == 0
    init = [line for line in calls(flow) if " init " in line]
    assert init[0].startswith(".terraform/envs/prod :: ")
    assert "-backend-config=key=wschat/prod/terraform.tfstate" in init[0] and "-reconfigure" in init[0]


def test_init_refuses_a_backend_config_that_fixes_the_key_for_every_environment(flow, tmp_path, capsys):
    backend = tmp_path / "backend.hcl"
    backend.write_text('bucket = "state"\nkey = "wschat/dev/terraform.tfstate"\n')
    assert run(flow, "prod", "init", "--backend-config", str(backend)) == 1
    assert "remove it" in capsys.readouterr().err and calls(flow) == []


@pytest.mark.parametrize("command", ["plan", "apply", "destroy", "outputs"])
def test_an_environment_that_was_never_initialised_is_refused(flow, command, capsys):
    # GIVEN only dev is initialised / WHEN prod is planned, applied, destroyed or read
    assert run(flow, "prod", command) == 1
    # THEN nothing runs, and the message says how to give prod its own state
    assert "make tf-init ENV=prod" in capsys.readouterr().err
    assert calls(flow) == []


@pytest.mark.parametrize("command", ["plan", "apply", "destroy"])
def test_a_data_directory_initialised_with_another_environments_state_is_refused(flow, command, capsys):
    # GIVEN prod's data directory points at dev's state (e.g. a hand-run `terraform init`)
    initialise(flow["dir"], "prod", "wschat/dev/terraform.tfstate")
    # WHEN prod is planned / THEN tf.py refuses: prod's values would replace every dev resource
    assert run(flow, "prod", command) == 1
    err = capsys.readouterr().err
    assert "'wschat/dev/terraform.tfstate'" in err and "not prod's" in err
    assert calls(flow) == []


def test_plan_summary_names_tables_that_the_plan_would_destroy(flow, capsys):
    flow["show"].write_text(json.dumps({"resource_changes": [
        {"address": 'module.tables.aws_dynamodb_table.this["connections"]', "change": {"actions": ["delete", "create"]}},
        {"address": "module.api.aws_apigatewayv2_stage.this", "change": {"actions": ["update"]}},
    ]}))
    assert run(flow, "dev", "plan") == 0
    summary = json.loads((flow["build"] / "terraform" / "dev.plan.json").read_text())
    assert summary["counts"] == {"create": 0, "update": 1, "delete": 0, "replace": 1}
    assert summary["stateful_resources_lost"] == ['module.tables.aws_dynamodb_table.this["connections"]']
    assert "WARNING" in capsys.readouterr().err


def test_expect_no_changes_fails_naming_what_changed(flow, capsys):
    flow["show"].write_text(json.dumps({"resource_changes": [
        {"address": 'module.functions.aws_lambda_function.this["ping"]', "change": {"actions": ["update"]}}]}))
    assert run(flow, "dev", "plan", "--expect-no-changes") == 1
    assert 'update: module.functions.aws_lambda_function.this["ping"]' in capsys.readouterr().err


def test_plan_without_lock_for_read_only_pull_request_plans(flow):
    run(flow, "dev", "plan", "--no-lock")
    assert any(" plan " in line and "-lock=false" in line for line in calls(flow))


def test_apply_applies_exactly_the_saved_plan(flow):
    run(flow, "dev", "plan")
    assert run(flow, "dev", "apply") == 0
    applied = [line for line in calls(flow) if " apply " in f" {line} "]
    assert applied and applied[0].endswith(str(flow["build"] / "terraform" / "dev.tfplan"))
    assert not (flow["build"] / "terraform" / "dev.tfplan").exists()


def test_a_stale_saved_plan_is_refused_with_a_clear_message(flow, monkeypatch, capsys):
    run(flow, "dev", "plan")
    monkeypatch.setenv("FAKE_STALE", "1")
    assert run(flow, "dev", "apply") == 1
    err = capsys.readouterr().err
    assert "is stale" in err and "Nothing was applied" in err and "make plan ENV=dev" in err


def test_apply_refuses_when_a_zip_differs_from_the_planned_one(flow, capsys):
    # GIVEN a saved plan / WHEN a zip changes before apply (e.g. a non-deterministic rebuild)
    run(flow, "dev", "plan")
    (flow["build"] / "functions" / "ping.zip").write_bytes(b"rebuilt differently")

    # THEN apply stops, names the zip, and terraform apply never runs
    assert run(flow, "dev", "apply") == 1
    assert "build/functions/ping.zip" in capsys.readouterr().err
    assert not [line for line in calls(flow) if " apply " in f" {line} "]


def test_apply_without_a_saved_plan_asks_for_make_plan(flow, capsys):
    assert run(flow, "dev", "apply") == 1
    assert "make plan ENV=dev" in capsys.readouterr().err


def test_plan_needs_the_built_zips(flow, capsys):
    (flow["build"] / "layer.zip").unlink()
    assert run(flow, "dev", "plan") == 1
    assert "make build" in capsys.readouterr().err and calls(flow) == []


def test_a_missing_terraform_binary_is_named(flow, capsys):
    assert tf_flow.main(["--terraform", str(flow["tmp"] / "no-such-terraform"), "--env", "dev", "plan"]) == 1
    assert "terraform not found" in capsys.readouterr().err


def test_a_mirror_without_the_aws_provider_is_named(flow, monkeypatch, capsys):
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(flow["tmp"]))
    assert run(flow, "dev", "plan") == 1
    assert "holds no registry.terraform.io/hashicorp/aws provider" in capsys.readouterr().err


def test_a_failed_check_block_is_reported_as_drift_and_fails_expect_no_changes(flow, capsys):
    # GIVEN a plan with no diff but a failed check (code pushed by deploy-fn: the provider shows no diff)
    flow["show"].write_text(json.dumps({"resource_changes": [], "checks": [{
        "address": {"kind": "check", "name": "deployed_code_is_the_build",
                    "to_display": "module.functions.check.deployed_code_is_the_build"},
        "status": "fail",
        "instances": [{"status": "fail", "problems": [{"message": "wschat-dev-ping runs abc, build/functions/ping.zip is def"}]}],
    }]}))
    # WHEN planned with --expect-no-changes / THEN it fails naming the check, and the summary records it
    assert run(flow, "dev", "plan", "--expect-no-changes") == 1
    err = capsys.readouterr().err
    assert "DRIFT (module.functions.check.deployed_code_is_the_build): wschat-dev-ping runs abc" in err
    assert "drift: module.functions.check.deployed_code_is_the_build" in err
    summary = json.loads((flow["build"] / "terraform" / "dev.plan.json").read_text())
    assert summary["drift"][0]["problems"] == ["wschat-dev-ping runs abc, build/functions/ping.zip is def"]
