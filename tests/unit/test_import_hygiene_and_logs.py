"""No AWS clients or I/O at import time; tokens and message bodies never reach the logs."""

import json
import subprocess
import sys

import pytest

from .conftest import MANIFEST, ROOT, SECRET, FakeContext, connect, handler, load_fixture, send


@pytest.mark.parametrize("name", sorted(MANIFEST.functions))
def test_importing_a_handler_creates_no_boto3_client(name):
    code = (
        "import sys, importlib.util\n"
        f"sys.path.insert(0, {str(ROOT / 'shared')!r})\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(ROOT / 'functions' / name / 'handler.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print('boto3' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin"},
                            check=True)
    assert result.stdout.strip() == "False"


def test_tokens_and_message_text_never_appear_in_logs(aws, management, capsys):
    import time

    import jwt

    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    event = load_fixture("authorizer_request")
    event["queryStringParameters"] = {"token": token}
    handler("authorizer")(event, FakeContext())
    connect("a=", "alice")
    connect("b=", "bob")
    send("a=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "the-secret-plan"})
    send("a=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "x" * 5000})
    logs = capsys.readouterr().out
    assert logs, "expected structured logs"
    assert token not in logs and "the-secret-plan" not in logs and "not-logged" not in logs
    for line in logs.splitlines():
        entry = json.loads(line)  # a log line, or an EMF document (its metrics)
        assert {"level", "message", "timestamp"} <= entry.keys() or "_aws" in entry
