"""The manifest package: manifest.json read and validated once, with errors that name the bad entry,
defaults equal to Terraform's, and no other Python code reading the file."""

from __future__ import annotations

import ast
import json
import subprocess

import pytest

from manifest import FILE_NAME, ManifestError, load_manifest, parse

from .conftest import MANIFEST, ROOT


def variant(**changes) -> dict:
    """The repository's manifest document with ``changes`` applied ("a.b.c" paths; None deletes)."""
    doc = MANIFEST.document()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return doc


def test_the_repository_manifest_yields_routes_functions_and_roles():
    assert {"$connect", "$disconnect", "$default"} <= set(MANIFEST.routes)
    assert MANIFEST.selection_key == "action"
    assert MANIFEST.authorizer.function in MANIFEST.functions
    assert MANIFEST.fanout_worker in MANIFEST.functions and MANIFEST.route_of(MANIFEST.fanout_worker) is None
    assert MANIFEST.client_actions == tuple(sorted(k for k in MANIFEST.routes if not k.startswith("$")))
    assert all(MANIFEST.routes[a].is_client_action for a in MANIFEST.client_actions)


def test_defaults_are_terraforms_optional_defaults():
    # GIVEN a route and a function that leave out every optional key Terraform's modules default
    doc = variant(routes__ping={"function": "ping"})
    ping = doc["functions"]["ping"]
    del ping["description"]
    ping["permissions"] = {"dynamodb": [{"table": "connections", "actions": ["dynamodb:UpdateItem"]}],
                           "manageConnections": [], "invoke": []}
    m = parse(doc)
    # THEN they take optional(bool, false), optional(string, "") and optional(list, []) as Terraform does
    route, fn = m.routes["ping"], m.functions["ping"]
    assert (route.route_response, route.authorizer) == (False, False)
    assert (fn.description, fn.permissions.jwt_secret, fn.permissions.dynamodb[0].indexes) == ("", False, ())


@pytest.mark.parametrize("missing", ["handler", "memory", "timeout", "permissions"])
def test_what_terraform_requires_of_a_function_is_required_here_too(missing):
    with pytest.raises(ManifestError, match=rf"manifest.json: functions\.ping: missing {missing}"):
        parse(variant(**{f"functions__ping__{missing}": None}))


@pytest.mark.parametrize(("changes", "message"), [
    ({"routes__ping__function": "pong"}, r"routes\.ping\.function: names unknown function 'pong'"),
    ({"routes__ping__routeRespones": True}, r"routes\.ping: unknown key\(s\) routeRespones"),
    ({"routes__ping__authorizer": True}, r"routes\.ping\.authorizer: WebSocket APIs authorize only at \$connect"),
    ({"routes__$bogus": {"function": "ping"}}, r"routes\.\$bogus: a route key is"),
    ({"functions__ping__memory": 64}, r"functions\.ping\.memory: must be between 128 and 10240, got 64"),
    ({"functions__ping__memory": "128"}, r"functions\.ping\.memory: must be a whole number"),
    ({"functions__ping__timeout": 901}, r"functions\.ping\.timeout: must be between 1 and 900"),
    ({"functions__ping__handler": "handler"}, r"functions\.ping\.handler: must be <module>\.<function>"),
    ({"functions__ping__permissions__manageConnections": ["PATCH"]}, r"manageConnections: may list only"),
    ({"functions__ping__permissions__invoke": ["nobody"]}, r"permissions\.invoke: names unknown function 'nobody'"),
    ({"functions__ping__permissions__dynamodb": [{"table": "connections", "actions": ["UpdateItem"]}]},
     r"dynamodb\[0\]\.actions: DynamoDB actions start with 'dynamodb:'"),
    ({"authorizer__function": "nobody"}, r"authorizer\.function: names unknown function 'nobody'"),
    ({"fanoutWorker": None}, r"\(top level\): missing fanoutWorker"),
    ({"fanoutWorker__function": "nobody"}, r"fanoutWorker\.function: names unknown function 'nobody'"),
    ({"routeSelectionExpression": "$request.header.x"}, r"routeSelectionExpression: only \$request\.body"),
    ({"runtime": "nodejs20.x"}, r"runtime: must be a Python runtime"),
    ({"functions": {}}, r"functions: must not be empty"),
])
def test_a_bad_manifest_is_refused_naming_the_entry(changes, message):
    with pytest.raises(ManifestError, match=message):
        parse(variant(**changes))


def test_keys_starting_with_a_dollar_are_comments():
    m = parse(variant(**{"$comment": "x", "routes__ping__$note": "two-way"}))
    assert m.routes["ping"].route_response is True


def test_an_unreadable_or_malformed_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ManifestError, match=rf"{tmp_path}/{FILE_NAME}: cannot read"):
        load_manifest(tmp_path)
    (tmp_path / FILE_NAME).write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path)


def test_the_build_stops_on_a_bad_manifest_naming_the_entry(tmp_path):
    # GIVEN a copy of the packager next to a manifest with a typo
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "build.py").write_text((ROOT / "tools" / "build.py").read_text())
    (tmp_path / "manifest").mkdir()
    (tmp_path / "manifest" / "__init__.py").write_text((ROOT / "manifest" / "__init__.py").read_text())
    (tmp_path / FILE_NAME).write_text(json.dumps(variant(routes__ping__routeRespones=True)))
    # WHEN it runs / THEN it fails before writing anything, with the manifest's message
    done = subprocess.run(["python3", str(tmp_path / "tools" / "build.py")], capture_output=True, text=True,
                          check=False)
    assert done.returncode != 0 and "routes.ping: unknown key(s) routeRespones" in done.stderr
    assert not (tmp_path / "build").exists()


def _code_strings(path) -> list[str]:
    """String constants of a Python file, without docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _names_the_file(text: str) -> bool:
    """A path-like string naming the manifest (prose that mentions it has spaces)."""
    return not any(c.isspace() for c in text) and (text == FILE_NAME or text.endswith("/" + FILE_NAME))


def test_no_python_code_but_the_manifest_package_opens_the_manifest_file():
    # Terraform's jsondecode(file(...)) is the one other reader; every Python reader goes through
    # the manifest package, so no other Python file builds a path to it.
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    assert len(files) > 50
    readers = [path for path in files if not path.startswith("manifest/") and (ROOT / path).is_file()
               and any(_names_the_file(text) for text in _code_strings(ROOT / path))]
    assert readers == []


def test_the_reader_check_would_see_a_raw_read():
    assert _names_the_file(FILE_NAME) and _names_the_file(f"../{FILE_NAME}")
    assert not _names_the_file(f"running the functions of {FILE_NAME}")
