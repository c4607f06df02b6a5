"""Lambda's init phase (chat.init_phase): inside Lambda a handler's import builds what its first
invocation needs; anywhere else it builds nothing; a failure never fails the import."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ENV, ROOT

PROBE = r"""
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("h", sys.argv[2])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
from chat import init_phase, models, auth
print(json.dumps({"built": models._txn_connection is not None, "last_ms": init_phase.last_ms,
                  "secret_cached": auth.jwt_secret.cache_info().currsize}))
"""


def _import(function: str, env: dict[str, str]) -> tuple[dict, str]:
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "shared"),
                             str(ROOT / "functions" / function / "handler.py")],
                            capture_output=True, text=True, env={"PATH": "/usr/bin", **env}, check=True, timeout=60)
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout + result.stderr


def test_inside_lambda_the_import_builds_the_database_client_before_the_first_event():
    # GIVEN Lambda's function variables and the function's settings (no request is sent: only built)
    env = {**ENV, "AWS_LAMBDA_FUNCTION_NAME": "send_message", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    # WHEN the runtime imports the handler
    got, _ = _import("send_message", env)
    # THEN the PynamoDB binding's client exists already and the init phase says how long it took
    assert got["built"] is True and got["last_ms"] is not None


def test_inside_lambda_the_authorizer_import_loads_its_secret():
    env = {**ENV, "AWS_LAMBDA_FUNCTION_NAME": "authorizer"}
    got, _ = _import("authorizer", env)
    assert got["secret_cached"] == 1


def test_outside_lambda_the_import_builds_nothing():
    got, _ = _import("send_message", dict(ENV))
    assert got == {"built": False, "last_ms": None, "secret_cached": 0}


def test_an_init_phase_failure_is_logged_and_left_for_the_first_invocation():
    # GIVEN Lambda, but a required setting missing
    env = {k: v for k, v in ENV.items() if k != "CONNECTIONS_TABLE"}
    env["AWS_LAMBDA_FUNCTION_NAME"] = "ping"
    # WHEN the handler is imported
    got, output = _import("ping", env)
    # THEN the import succeeds, nothing is built, and a warning names the cause
    assert got["built"] is False
    assert "init phase: left for the first invocation" in output and "CONNECTIONS_TABLE" in output
