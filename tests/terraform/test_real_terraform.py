"""The real Terraform and the real hashicorp/aws provider: `make tf-validate`, and `make tf-e2e` for
every environment (apply to a local AWS, read back, re-plan empty, deploy-fn, destroy).

Where Terraform or the provider is missing, these tests are skipped with the toolchain's own
message saying what is missing; the provider-free checks (the other tests of tests/terraform) run
regardless. The e2e runs start together (they mostly wait on the provider) on first use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.terraform.conftest import ROOT, TF

sys.path.insert(0, str(ROOT / "tools"))
import tf_e2e  # noqa: E402
import tf_toolchain  # noqa: E402

ENVS = sorted(p.stem for p in (TF / "envs").glob("*.tfvars"))
E2E_TIMEOUT_S = 1200


def toolchain_or_skip() -> tf_toolchain.Toolchain:
    try:
        return tf_toolchain.resolve(os.environ.get("TERRAFORM", "terraform"))
    except tf_toolchain.ToolchainMissing as e:
        pytest.skip(f"real Terraform checks skipped: {e}")


def make(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], text=True, capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)


def write_failing_terraform(path: Path, real: str) -> Path:
    """A terraform that fails the stack's `apply <saved plan>` (as a provider error would) and passes
    every other call through."""
    path.write_text(f'#!/bin/sh\ncase " $* " in *" apply "*.tfplan*) echo "Error: injected apply failure" >&2; '
                    f'exit 1;; esac\nexec "{real}" "$@"\n')
    path.chmod(0o755)
    return path


class Runs:
    """The tf-e2e processes, started together on first use; each test waits for its own."""

    def __init__(self, tmp: Path, terraform: str):
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.logs: dict[str, Path] = {}
        self.reports: dict[str, Path] = {}
        failing = write_failing_terraform(tmp / "terraform-failing-apply", terraform)
        tmp = ROOT / "build" / "tf-e2e" / "test"  # kept after the run: CI's artifact when one fails
        tmp.mkdir(parents=True, exist_ok=True)
        for name, env, binary in [*((e, e, terraform) for e in ENVS), ("failing-apply", "dev", str(failing))]:
            self.logs[name], self.reports[name] = tmp / f"{name}.log", tmp / f"{name}.json"
            self.procs[name] = subprocess.Popen(
                [sys.executable, str(ROOT / "tools" / "tf_e2e.py"), "--env", env, "--terraform", binary,
                 "--report", str(self.reports[name])],
                stdout=subprocess.DEVNULL, stderr=self.logs[name].open("w"), text=True)

    def result(self, name: str) -> tuple[int, str]:
        try:
            code = self.procs[name].wait(timeout=E2E_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.procs[name].terminate()
            code = self.procs[name].wait(timeout=60)
        return code, self.logs[name].read_text()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    toolchain = toolchain_or_skip()
    started = Runs(tmp_path_factory.mktemp("tf-e2e"), toolchain.terraform)
    yield started
    started.stop()


def test_validate_passes_with_the_real_provider():
    toolchain_or_skip()
    done = make("tf-validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The configuration is valid" in done.stdout + done.stderr
    assert re.search(r"provider from (mirror|registry|CLI configuration)", done.stdout)


@pytest.mark.timeout(E2E_TIMEOUT_S + 120)
@pytest.mark.parametrize("env", ENVS)
def test_tf_e2e_applies_checks_replans_empty_redeploys_and_destroys(runs, env):
    code, log = runs.result(env)
    assert code == 0, log[-8000:]
    report = json.loads(runs.reports[env].read_text())
    assert report["planned_resources"] >= 100
    assert f"Resources: {report['planned_resources']} added" in report["apply_output"]
    assert f"Resources: {report['planned_resources']} destroyed" in report["destroy_output"]
    assert report["deploy_fn"]["changed"] != report["deploy_fn"]["planned"]
    print(f"tf-e2e {env}: {report['planned_resources']} resources, {report['wall_s']} s, {report['timings_s']}")


@pytest.mark.timeout(E2E_TIMEOUT_S + 120)
def test_a_failing_apply_stops_the_local_cloud_and_exits_non_zero(runs):
    code, log = runs.result("failing-apply")
    assert code == 1, log[-4000:]
    assert "FAILED (dev): apply:" in log
    pid = int(re.search(r"local cloud \S+ \(pid (\d+)\)", log).group(1))
    scratch = Path(re.search(r"scratch copy (\S+)", log).group(1))
    # tf_e2e waits for the server to exit before it exits itself: by now it is gone, not even a zombie
    assert not Path(f"/proc/{pid}").exists(), f"moto server {pid} outlived the failed run"
    assert not scratch.exists()


def test_tf_e2e_names_a_missing_terraform():
    done = make("tf-e2e", "TERRAFORM=/nonexistent/terraform")
    assert done.returncode != 0
    assert "SKIPPED: terraform not found (`/nonexistent/terraform`" in done.stderr


def test_tf_validate_names_a_missing_provider(tmp_path):
    toolchain_or_skip()
    done = make("tf-validate", env={"TF_PROVIDER_MIRROR": str(tmp_path)})
    assert done.returncode != 0
    assert "holds no registry.terraform.io/hashicorp/aws provider" in done.stderr


def test_every_resource_type_has_a_local_cloud_endpoint():
    # GIVEN every resource and data source in terraform/ / THEN tf-e2e knows the endpoint that serves it
    services = tf_e2e.endpoint_services(TF)
    assert {"apigatewayv2", "lambda", "dynamodb", "iam", "logs", "sts"} <= set(services)


def test_an_unknown_resource_type_stops_the_run_instead_of_reaching_real_aws(tmp_path):
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "x" {}\n')
    with pytest.raises(tf_e2e.StepFailed, match="aws_s3_bucket"):
        tf_e2e.endpoint_services(tmp_path)


def test_no_override_files_in_terraform():
    # Override files load in every real deploy: test-only ones live in tf-e2e's scratch copy only.
    assert not [p for p in TF.rglob("*override.tf*") if ".terraform" not in p.parts]
