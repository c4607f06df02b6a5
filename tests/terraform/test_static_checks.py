"""fmt -check and the offline configuration load (tools/tf_static.py) pass, and would fail."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys

import pytest

from manifest import load_manifest, manifest_path
from tests.terraform.conftest import ROOT, TF

_spec = importlib.util.spec_from_file_location("tf_static", ROOT / "tools" / "tf_static.py")
tf_static = importlib.util.module_from_spec(_spec)
sys.modules["tf_static"] = tf_static
_spec.loader.exec_module(tf_static)


@pytest.fixture
def tf_copy(tmp_path):
    shutil.copytree(TF, tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform"))
    shutil.copy(manifest_path(ROOT), manifest_path(tmp_path))
    return tmp_path / "terraform"


def test_terraform_is_formatted():
    assert tf_static.fmt_problems() == []


def test_configuration_loads_without_errors():
    assert tf_static.init_problems() == []


def test_fmt_check_reports_a_misformatted_file(tf_copy):
    (tf_copy / "modules" / "monitoring" / "main.tf").write_text('locals {\n  a = 1\n  bb = 2\n}\n')
    assert tf_static.fmt_problems(tf_copy)


def test_configuration_load_reports_a_broken_module(tf_copy):
    with (tf_copy / "modules" / "functions" / "variables.tf").open("a") as handle:
        handle.write('\nvariable "region" {\n  type = string\n}\n')
    problems = tf_static.init_problems(tf_copy)
    assert any("Duplicate variable declaration" in p for p in problems)


def test_checkov_skips_are_all_justified_in_the_docs():
    skips = set()
    for path in TF.rglob("*.tf"):
        for check, reason in re.findall(r"#checkov:skip=([A-Z0-9_]+):(.*)", path.read_text()):
            assert len(reason.strip()) > 20, f"{path.name}: {check} skipped without a reason"
            skips.add(check)
    docs = (ROOT / "docs" / "terraform.md").read_text()
    table_rows = set(re.findall(r"^\|\s*`?(CKV2?_AWS_\d+)`?\s*\|", docs, re.M))
    assert skips and skips == table_rows


def test_docs_iam_table_matches_the_manifest():
    spec = importlib.util.spec_from_file_location("iam_table", ROOT / "tools" / "iam_table.py")
    iam_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(iam_table)
    docs = (ROOT / "docs" / "terraform.md").read_text()
    assert iam_table.docs_table(docs) == iam_table.render(load_manifest(ROOT)), "run: python tools/iam_table.py --write"
