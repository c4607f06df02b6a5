"""tools/tf.py (make plan/apply): apply runs only the saved plan, and only with the planned zips."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tests.terraform.conftest import MANIFEST, ROOT

_spec = importlib.util.spec_from_file_location("tf_flow", ROOT / "tools" / "tf.py")
tf_flow = importlib.util.module_from_spec(_spec)
sys.modules["tf_flow"] = tf_flow
_spec.loader.exec_module(tf_flow)


@pytest.fixture
def flow(tmp_path, monkeypatch):
    """tf.py with build/ in a temp dir and a fake `terraform` that logs its arguments."""
    build = tmp_path / "build"
    for name in MANIFEST["functions"]:
        (build / "functions").mkdir(parents=True, exist_ok=True)
        (build / "functions" / f"{name}.zip").write_bytes(name.encode())
    (build / "layer.zip").write_bytes(b"layer")
    (build / "crypto-layer-arm64.zip").write_bytes(b"crypto")
    log = tmp_path / "terraform.log"
    fake = tmp_path / "terraform"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\nfor a in "$@"; do case "$a" in -out=*) touch "${{a#-out=}}";; esac; done\n')
    fake.chmod(0o755)
    monkeypatch.setattr(tf_flow, "BUILD", build)
    monkeypatch.setattr(tf_flow, "PLANS", build / "terraform")
    return {"build": build, "log": log, "terraform": str(fake)}


def calls(flow) -> list[str]:
    return flow["log"].read_text().splitlines() if flow["log"].exists() else []


def test_plan_saves_the_plan_and_records_every_zip(flow):
    assert tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "plan"]) == 0
    recorded = json.loads((flow["build"] / "terraform" / "dev.zips.json").read_text())
    assert set(recorded) == {"build/layer.zip", "build/crypto-layer-arm64.zip",
                             *(f"build/functions/{n}.zip" for n in MANIFEST["functions"])}
    assert any(" plan -input=false " in f" {line} " and "-out=" in line for line in calls(flow))


def test_apply_applies_exactly_the_saved_plan(flow):
    tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "plan"])
    assert tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "apply"]) == 0
    applied = [line for line in calls(flow) if " apply " in f" {line} "]
    assert applied and applied[0].endswith(str(flow["build"] / "terraform" / "dev.tfplan"))
    assert not (flow["build"] / "terraform" / "dev.tfplan").exists()


def test_apply_refuses_when_a_zip_differs_from_the_planned_one(flow, capsys):
    # GIVEN a saved plan / WHEN a zip changes before apply (e.g. a non-deterministic rebuild)
    tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "plan"])
    (flow["build"] / "functions" / "ping.zip").write_bytes(b"rebuilt differently")

    # THEN apply stops, names the zip, and terraform apply never runs
    assert tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "apply"]) == 1
    assert "build/functions/ping.zip" in capsys.readouterr().err
    assert not [line for line in calls(flow) if " apply " in f" {line} "]


def test_apply_without_a_saved_plan_asks_for_make_plan(flow, capsys):
    assert tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "apply"]) == 1
    assert "make plan ENV=dev" in capsys.readouterr().err


def test_plan_needs_the_built_zips(flow, capsys):
    (flow["build"] / "layer.zip").unlink()
    assert tf_flow.main(["--terraform", flow["terraform"], "--env", "dev", "plan"]) == 1
    assert "make build" in capsys.readouterr().err and calls(flow) == []
