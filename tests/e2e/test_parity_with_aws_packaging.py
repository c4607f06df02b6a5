"""The emulator runs the code and configuration that ship: the manifest's functions from functions/<name>/
with shared/ as the layer, and the environment variable names chat.config documents (Terraform's)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from manifest import load_manifest
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e


def test_every_manifest_function_is_loaded_from_its_handler_file(stack):
    manifest = load_manifest(REPO)
    loaded = stack.runtime.loaded_files()
    assert set(loaded) == set(manifest.functions)
    for name, path in loaded.items():
        assert path == REPO / "functions" / name / manifest.functions[name].handler_file


def test_handler_environment_sets_every_required_variable_and_only_documented_ones(stack):
    from chat.config import OPTIONAL, REQUIRED

    env = stack.handler_env
    assert all(env.get(name) for name in REQUIRED)
    undocumented = {k for k in env if k not in REQUIRED and k not in OPTIONAL and not k.startswith("AWS_")}
    assert not undocumented
    assert env["MANAGEMENT_ENDPOINT"] == stack.management_url
    assert env["AWS_ENDPOINT_URL_LAMBDA"] == stack.lambda_url


def test_zipped_handlers_are_the_files_the_emulator_runs(stack):
    build = REPO / "tools" / "build.py"
    subprocess.run([sys.executable, str(build)], cwd=REPO, check=True, capture_output=True)
    for name, path in stack.runtime.loaded_files().items():
        archive = REPO / "build" / "functions" / f"{name}.zip"
        with zipfile.ZipFile(archive) as zf:
            assert zf.read("handler.py") == path.read_bytes(), f"{archive} differs from {path}"
