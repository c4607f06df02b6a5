"""The manifest package and the Terraform modules refuse the same manifests: a value the modules'
validations would stop at `terraform plan` is already stopped by `make build` and the emulator."""

from __future__ import annotations

import copy

import pytest

from manifest import ManifestError, parse
from tests.terraform.conftest import API_VARS, FUNCTIONS_VARS, MANIFEST, MODULES, evaluate


def with_change(path: str, value) -> dict:
    doc = copy.deepcopy(MANIFEST)
    *parents, leaf = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    node[leaf] = value
    return doc


def terraform_refuses(doc: dict) -> bool:
    try:
        evaluate(MODULES / "functions", ["variables.tf"], {**FUNCTIONS_VARS, "functions": doc["functions"]},
                 {"ok": "true"})
        evaluate(MODULES / "websocket_api", ["variables.tf"], {**API_VARS, "routes": doc["routes"]}, {"ok": "true"})
    except AssertionError:
        return True
    return False


def test_both_accept_the_repository_manifest():
    assert parse(MANIFEST) and not terraform_refuses(MANIFEST)


@pytest.mark.parametrize(("path", "value"), [
    ("functions.ping.memory", 64),
    ("functions.ping.memory", 10241),
    ("functions.ping.timeout", 0),
    ("functions.ping.timeout", 901),
    ("functions.ping.permissions.manageConnections", ["PATCH"]),
    ("functions.ping.permissions.invoke", ["nobody"]),
    ("routes.ping.authorizer", True),
    ("routes", {f"action{i}": {"function": "ping"} for i in range(301)}),
], ids=lambda v: str(v)[:40])
def test_a_value_terraform_refuses_is_refused_by_the_manifest_package_too(path, value):
    doc = with_change(path, value)
    assert terraform_refuses(doc)
    with pytest.raises(ManifestError):
        parse(doc)
