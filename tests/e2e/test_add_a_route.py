"""Adding a route is one manifest entry and one folder (plus the frame's parser), with nothing hidden
to update: in a scratch copy of this checkout, a `whoami` route is added exactly as README's "Adding a
route" says, and then, with no other file touched,

1. the packager zips functions/whoami;
2. Terraform's HCL (evaluated by the provider-free harness) has its route, integration, invoke
   permission and least-privilege role, and every function's CLIENT_ACTIONS names it;
3. the unit suites that walk every route include it: the property tests, the route tests, and the
   permission test, which fails when the manifest does not grant what the handler calls;
4. the local stack serves it to a real WebSocket client, and $default lists it as a valid action;
5. `python -m bench` measures its cold start and first invocation.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from emulator.config import DEV_JWT_SECRET
from emulator.tokens import mint_token
from harness.stack_process import StackProcess
from manifest import FILE_NAME, manifest_path
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e

ROUTE = {"function": "whoami", "routeResponse": True}
FUNCTION = {
    "description": "whoami: the caller's user id and the rooms its connection joined.",
    "handler": "handler.lambda_handler",
    "memory": 128,
    "timeout": 5,
    "permissions": {"dynamodb": [{"table": "connections", "actions": ["dynamodb:GetItem"]}],
                    "manageConnections": [], "invoke": []},
}
HANDLER = '''"""whoami: the caller's user id and the rooms its connection joined."""

from chat import registry, responses
from chat.events import caller_of, json_body
from chat.lambda_kit import route
from chat.protocol import parse_whoami


@route()
def lambda_handler(event, context):
    caller = caller_of(event)
    parse_whoami(json_body(event))
    connection = registry.require(caller.connection_id)
    return responses.ok({"type": "whoami", "userId": connection.userId, "rooms": sorted(connection.rooms or [])})
'''
PARSER = '''

def parse_whoami(body: dict[str, Any]) -> None:
    _check_fields(body, set())
'''
ADDED = {FILE_NAME, "shared/chat/protocol.py", "functions/whoami/"}
SUITES = ["tests/terraform/test_websocket_api.py", "tests/terraform/test_iam_least_privilege.py",
          "tests/terraform/test_lambda_functions.py", "tests/terraform/test_lambda_environment.py",
          "tests/unit/test_routes.py", "tests/unit/test_properties.py", "tests/unit/test_permissions_cover_code.py",
          "tests/unit/test_manifest.py"]


def run(scratch: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, *args], cwd=scratch, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def git(scratch: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=scratch, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A copy of this checkout (tracked and new files, as they are now) in a git repo of its own, with the
    route added: the manifest entry, functions/whoami/handler.py and a parser in chat.protocol."""
    scratch = tmp_path_factory.mktemp("add-a-route") / "repo"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, scratch / name)
    (scratch / ".tools").symlink_to(REPO / ".tools", target_is_directory=True)  # DynamoDB Local, Node tools
    if (REPO / "build" / "wheels").is_dir():  # the layer's pinned wheels: a download cache
        shutil.copytree(REPO / "build" / "wheels", scratch / "build" / "wheels")
    git(scratch, "init", "-q")
    git(scratch, "add", "-A")
    git(scratch, "commit", "-qm", "before the route")

    manifest = json.loads(manifest_path(scratch).read_text())  # as a developer edits the file
    manifest["routes"]["whoami"] = ROUTE
    manifest["functions"]["whoami"] = FUNCTION
    manifest_path(scratch).write_text(json.dumps(manifest, indent=2) + "\n")
    (scratch / "functions" / "whoami").mkdir()
    (scratch / "functions" / "whoami" / "handler.py").write_text(HANDLER)
    with (scratch / "shared" / "chat" / "protocol.py").open("a") as protocol:
        protocol.write(PARSER)
    return scratch


def test_only_the_manifest_the_function_folder_and_the_parser_change(scratch):
    changed = {line[3:] for line in git(scratch, "status", "--porcelain").splitlines()}
    assert changed == ADDED


def test_the_packager_zips_the_new_function(scratch):
    table = json.loads(run(scratch, "tools/build.py", "--no-layer", "--json").stdout)
    assert "build/functions/whoami.zip" in {row["artifact"] for row in table}
    with zipfile.ZipFile(scratch / "build" / "functions" / "whoami.zip") as archive:
        assert archive.namelist() == ["handler.py"]
        assert archive.read("handler.py").decode() == HANDLER


# The suites it runs evaluate Terraform for every route (CPU-bound: minutes on a busy 2-core machine);
# the hang guard is the nested run's own bound (run(): 600 s), not pytest-timeout's 300 s default,
# which fired first under load.
@pytest.mark.timeout(660)
def test_terraform_the_route_tests_the_property_tests_and_the_permission_test_include_it(scratch, tmp_path):
    report = tmp_path / "report.xml"
    run(scratch, "-m", "pytest", *SUITES, "-q", "-p", "no:cacheprovider", f"--junitxml={report}")
    cases = {case.get("name"): case for case in ET.parse(report).getroot().iter("testcase")}
    assert all(case.find("failure") is None and case.find("error") is None for case in cases.values())
    for name in ("test_route_targets_an_aws_proxy_integration_of_its_own_function[whoami]",
                 "test_invoke_permission_is_scoped_to_the_route_and_stage[whoami]",
                 "test_role_allows_exactly_the_manifest_permissions[whoami]",
                 "test_function_uses_its_zip_hash_role_layer_and_manifest_sizing[whoami]"):
        assert name in cases and cases[name].find("skipped") is None, name


def test_the_permission_test_catches_a_call_the_manifest_does_not_grant(scratch):
    # GIVEN the new function's entry without its DynamoDB grant
    original = manifest_path(scratch).read_text()
    manifest = json.loads(original)
    manifest["functions"]["whoami"]["permissions"]["dynamodb"] = []
    manifest_path(scratch).write_text(json.dumps(manifest, indent=2))
    try:
        # WHEN the permission test runs / THEN it fails, naming the function and the call
        done = run(scratch, "-m", "pytest", "tests/unit/test_permissions_cover_code.py", "-q", "-p",
                   "no:cacheprovider", check=False)
    finally:
        manifest_path(scratch).write_text(original)
    assert done.returncode == 1
    assert "'whoami': [('dynamodb:GetItem', 'connections', None)]" in done.stdout


async def test_the_local_stack_serves_the_new_route_to_a_real_client(scratch, tmp_path):
    stack = StackProcess(repo=scratch, dynamodb="moto", concurrency=4, log_path=tmp_path / "stack.log")
    await asyncio.to_thread(stack.start, 120)
    try:
        token = mint_token("u_whoami", DEV_JWT_SECRET)
        async with connect(f"{stack.ws_url}?token={token}&room=lobby") as ws:
            await ws.send(json.dumps({"action": "whoami"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == {
                "type": "whoami", "userId": "u_whoami", "rooms": ["lobby"]}
            await ws.send(json.dumps({"action": "nope"}))
            assert "whoami" in json.loads(await asyncio.wait_for(ws.recv(), 30))["validActions"]
    finally:
        stack.stop()


def test_the_bench_measures_the_new_function(scratch, tmp_path):
    run(scratch, "-m", "bench", "--quick", "--sections", "cold", "--functions", "whoami", "--dynamodb", "moto",
        "--out", str(tmp_path), timeout=900)
    cold = json.loads((tmp_path / "results.json").read_text())["cold"]["functions"]
    assert set(cold) == {"whoami"}
    assert cold["whoami"]["first_invoke_status"] == ["200"] and cold["whoami"]["import_ms"] > 0
