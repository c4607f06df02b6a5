"""`make smoke` against the local stack: the script CI runs after every apply, with real clients, here
pointed at the emulator through WSS_URL (its secret, table and DynamoDB given as a deployed stack's
would be). A broken step makes the run fail, naming that step."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import ThreadedLocalStack
from tests.e2e.conftest import REPO, make_stack

pytestmark = pytest.mark.e2e

SECRET = "smoke-e2e-" + secrets.token_hex(24)
STEPS = ("connect", "registry", "ping", "direct message", "room message", "history", "$default",
         "GetConnection", "DeleteConnection")
# The stack's handlers share this process's environment (JWT_SECRET, table names, endpoints...):
# none of it may leak into the smoke, which must get everything from its own settings.
STACK_ENV = ("JWT_SECRET", "JWT_SECRET_PARAMETER", "MANAGEMENT_ENDPOINT", "CONNECTIONS_TABLE", "ROOM_MEMBERS_TABLE",
             "MESSAGES_TABLE", "WSS_URL", "ENV", "JWT_ISSUER", "JWT_AUDIENCE", "MAKEFLAGS", "MFLAGS")


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str) -> Iterator[ThreadedLocalStack]:
    s = make_stack(dynamodb_endpoint, jwt_secret=SECRET)
    yield s
    s.stop()


def smoke_env(stack: ThreadedLocalStack, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STACK_ENV and not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": stack.config.region,
                "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_endpoint, "AWS_EC2_METADATA_DISABLED": "true",
                "JWT_SECRET": SECRET, "SMOKE_TIMEOUT": "20"})
    env.update(overrides)
    return env


def make_smoke(stack: ThreadedLocalStack, *variables: str, **env: str) -> subprocess.CompletedProcess[str]:
    wanted = {"WSS_URL": stack.ws_url, "CONNECTIONS_TABLE": stack.handler_env["CONNECTIONS_TABLE"]}
    wanted.update(dict(v.split("=", 1) for v in variables))
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "smoke",
                           *(f"{k}={v}" for k, v in wanted.items())],
                          env=smoke_env(stack, **env), capture_output=True, text=True, timeout=180, check=False)


def smoke_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "tools" / "smoke.py"), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def smoke_routes(stack: ThreadedLocalStack) -> set[str]:
    return {inv.route for inv in list(stack.invocations)
            if str((inv.event.get("requestContext", {}).get("authorizer") or {}).get("principalId", "")).startswith("smoke-")}


def test_make_smoke_passes_every_step_through_the_local_stack(stack: ThreadedLocalStack) -> None:
    # GIVEN the local stack with its own secret, and the smoke given that secret, its table and its DynamoDB
    # WHEN `make smoke WSS_URL=...` runs
    done = make_smoke(stack)
    # THEN every step passes, in order, and the run says so
    assert done.returncode == 0, done.stdout + done.stderr
    passed = [line.split("ok  ", 1)[1].rsplit(" (", 1)[0] for line in done.stdout.splitlines() if " ok  " in line]
    assert passed == list(STEPS)
    assert "smoke: PASSED (WSS_URL): 9 steps" in done.stdout
    # AND the frames went through the stack's routes as the smoke's users
    async def disconnected() -> Any:
        return await stack.wait_for_invocation(
            lambda i: i.route == "$disconnect"
            and str((i.event["requestContext"].get("authorizer") or {}).get("principalId", "")).startswith("smoke-"))
    asyncio.run(disconnected())
    assert {"$connect", "ping", "sendMessage", "joinRoom", "getHistory", "$default", "$disconnect"} <= smoke_routes(stack)
    # AND the secret never shows in what it prints
    assert SECRET not in done.stdout + done.stderr


def test_a_token_minted_with_the_wrong_secret_fails_the_connect_step(stack: ThreadedLocalStack) -> None:
    # GIVEN a smoke holding another secret than the stack's
    # WHEN it runs
    done = make_smoke(stack, JWT_SECRET="not-the-deployed-secret-" + secrets.token_hex(16))
    # THEN the handshake is refused and the run fails there, naming the step and the status
    assert done.returncode != 0
    assert "FAILED at step 'connect': handshake refused with HTTP 403" in done.stderr
    assert " ok  " not in done.stdout


def test_a_wrong_connections_table_fails_the_registry_step_after_connect(stack: ThreadedLocalStack) -> None:
    # GIVEN a smoke looking its connections up in a table that does not exist
    done = make_smoke(stack, "CONNECTIONS_TABLE=no-such-connections")
    # THEN connect passes and the registry step fails, named, with DynamoDB's reason
    assert done.returncode != 0
    assert "smoke: ok  connect" in done.stdout
    assert "FAILED at step 'registry': ResourceNotFoundException" in done.stderr


def test_a_wrong_management_endpoint_fails_the_get_connection_step(stack: ThreadedLocalStack) -> None:
    # GIVEN the management endpoint of another stage
    done = make_smoke(stack, f"MANAGEMENT_ENDPOINT={stack.base_url}/nostage")
    # THEN every chat step passes and GetConnection fails, named
    assert done.returncode != 0
    assert "smoke: ok  $default" in done.stdout
    assert "FAILED at step 'GetConnection'" in done.stderr


def test_an_unreachable_url_fails_the_connect_step_saying_so(stack: ThreadedLocalStack) -> None:
    # GIVEN a loopback port nobody listens on (from the OS, then closed)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # WHEN the smoke targets it
    done = make_smoke(stack, f"WSS_URL=ws://127.0.0.1:{port}/dev")
    # THEN it fails at connect, saying the URL cannot be reached
    assert done.returncode != 0
    assert f"FAILED at step 'connect': cannot reach ws://127.0.0.1:{port}/dev" in done.stderr


def test_bad_input_exits_2_from_the_command_line(stack: ThreadedLocalStack) -> None:
    # GIVEN an environment that has no tfvars (the other bad inputs: tests/unit/test_smoke_inputs.py)
    # WHEN the script starts
    done = smoke_script(smoke_env(stack), "--env", "staging")
    # THEN it stops at the inputs step with exit 2, before any connection
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FAILED at step 'inputs' (bad input): no terraform/envs/staging.tfvars" in done.stderr
    assert " ok  " not in done.stdout


def test_make_smoke_pastes_no_setting_into_the_shell_command() -> None:
    # GIVEN hostile values for every setting
    hostile = "x; echo INJECTED $(id) `id`"
    # WHEN make shows the command it would run
    shown = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), "smoke", f"WSS_URL={hostile}",
                            f"ENV={hostile}", f"CONNECTIONS_TABLE={hostile}"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    # THEN the values are not in it (the script reads them from its environment)
    smoke_line = next(line for line in shown.splitlines() if "tools/smoke.py" in line)
    assert "INJECTED" not in smoke_line and "id" not in smoke_line.split("tools/smoke.py", 1)[1]
