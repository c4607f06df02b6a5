"""Unit-test harness: moto-backed tables, a recording @connections poster, AWS-shaped events."""

from __future__ import annotations

import copy
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from chat import clients, models
from chat.config import Settings
from chat.signed_post import PostError
from manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
MANIFEST = load_manifest(ROOT)
ENV = {
    "CONNECTIONS_TABLE": "test-connections",
    "ROOM_MEMBERS_TABLE": "test-room-members",
    "MESSAGES_TABLE": "test-messages",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "JWT_SECRET": SECRET,
    "FANOUT_FUNCTION_NAME": f"wschat-test-{MANIFEST.fanout_worker}",
    "CLIENT_ACTIONS": ",".join(MANIFEST.client_actions),
    "FANOUT_CONCURRENCY": "8",
    "BROADCAST_SHARDS": "4",
}
STATUS = {"GoneException": 410, "ForbiddenException": 403, "LimitExceededException": 429,
          "PayloadTooLargeException": 413, "InternalServerErrorException": 500,
          "ServiceUnavailableException": 503}


def load_fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.fixture(autouse=True)
def env(monkeypatch):
    for key in ("MANAGEMENT_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_LAMBDA",
                "RATE_LIMIT_PER_MINUTE", "MAX_TEXT_CHARS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    clients.reset()
    yield monkeypatch
    clients.reset()


@pytest.fixture
def aws(env):
    with mock_aws():
        models.bind(Settings.from_env())
        for model in models.TABLE_MODELS.values():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


class FakePoster:
    """Stands in for chat.signed_post's poster (moto's @connections never answers 410), at the seam
    production uses: ``chat.clients.signed_poster``.

    ``fail[connection_id]`` lists what successive posts to that id do instead of succeeding: a service
    error code (raised as the PostError(code, HTTP status) the real poster raises for that answer) or
    an exception (e.g. ``no_answer()``: a timeout/reset, or a crash).
    """

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        self.attempts: dict[str, int] = {}
        self.fail: dict[str, list[str | BaseException]] = {}
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        with self._lock:
            self.attempts[connection_id] = self.attempts.get(connection_id, 0) + 1
            queue = self.fail.get(connection_id)
            fault = queue.pop(0) if queue else None
            if fault is None:
                self.posts.append((connection_id, data))
                return
        if isinstance(fault, str):
            raise PostError(fault, STATUS.get(fault, 500), fault)
        raise fault

    def frames_to(self, connection_id: str) -> list[dict]:
        return [json.loads(data) for cid, data in self.posts if cid == connection_id]

    def recipients(self) -> list[str]:
        return [cid for cid, _ in self.posts]


def no_answer(kind: str = "ReadTimeoutError") -> PostError:
    """What the real poster raises when no answer came (urllib3 timeouts, resets, refused)."""
    return PostError(kind, None, "no answer")


@pytest.fixture
def management(monkeypatch):
    fake = FakePoster()
    monkeypatch.setattr("chat.management.signed_poster", lambda *args, **kwargs: fake)
    return fake


@pytest.fixture
def handed_off(monkeypatch):
    jobs: list = []
    monkeypatch.setattr("chat.fanout.continue_later", lambda job, settings: jobs.append(job))
    return jobs


class FakeContext:
    def __init__(self, function_name: str = "wschat-test-fn", remaining: int = 29_000):
        self.function_name = function_name
        self.aws_request_id = "8f5b6d3a-0000-4000-8000-000000000000"
        self.memory_limit_in_mb = 256
        self.remaining = remaining

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining


_handlers: dict[str, Any] = {}


def handler(name: str):
    """The manifest's handler of function ``name``, loaded by path (every file is handler.py)."""
    if name not in _handlers:
        fn = MANIFEST.functions[name]
        spec = importlib.util.spec_from_file_location(f"functions_{name}_handler",
                                                      ROOT / "functions" / name / fn.handler_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[name] = getattr(module, fn.handler_attribute)
    return _handlers[name]


def connect_event(connection_id: str, user_id: str, room: str | None = None) -> dict:
    event = load_fixture("connect")
    ctx = event["requestContext"]
    ctx["connectionId"] = connection_id
    ctx["authorizer"] = {"principalId": user_id, "integrationLatency": 10, "userId": user_id}
    ctx["connectedAt"] = ctx["requestTimeEpoch"] = _now_ms()
    event["queryStringParameters"] = {"token": "not-logged"} | ({"room": room} if room else {})
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in event["queryStringParameters"].items()}
    return event


def message_event(connection_id: str, user_id: str, body: Any, route: str | None = None) -> dict:
    event = load_fixture("message_send_message")
    text = body if isinstance(body, str) else json.dumps(body)
    ctx = event["requestContext"]
    ctx["connectionId"] = connection_id
    ctx["authorizer"] = {"principalId": user_id, "integrationLatency": 10, "userId": user_id}
    ctx["routeKey"] = route or route_for(text)
    event["body"] = text
    return event


def route_for(text: str) -> str:
    """API Gateway's route selection on $request.body.action, $default when it does not match."""
    try:
        action = json.loads(text).get("action")
    except (ValueError, AttributeError):
        return "$default"
    return action if isinstance(action, str) and action in MANIFEST.client_actions else "$default"


def disconnect_event(connection_id: str, user_id: str) -> dict:
    event = load_fixture("disconnect")
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["authorizer"] = {"principalId": user_id, "userId": user_id}
    return event


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def connect(connection_id: str, user_id: str, room: str | None = None) -> dict:
    return handler("connect")(connect_event(connection_id, user_id, room), FakeContext("connect"))


def send(connection_id: str, user_id: str, body: Any, context: FakeContext | None = None) -> dict:
    """Runs the function the manifest routes this body to; returns the parsed reply frame."""
    event = message_event(connection_id, user_id, body)
    function = MANIFEST.routes[event["requestContext"]["routeKey"]].function
    result = handler(function)(event, context or FakeContext(function))
    return json.loads(result["body"])
