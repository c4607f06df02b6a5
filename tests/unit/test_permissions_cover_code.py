"""Least privilege, the other direction (issue 7, security): every DynamoDB call a function's code makes
is granted to it by manifest.json (which Terraform turns into its IAM policy; tests/terraform checks that
the policy grants exactly the manifest's permissions). A missing grant would be an AccessDenied on AWS
that neither moto nor the local stack would show.

Each function runs a scenario through its real handler under moto; every DynamoDB operation is recorded
with the function that made it (also from fan-out threads), translated into IAM actions (a
TransactWriteItems needs the action of each item) and compared with the manifest.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.client import BaseClient

from .conftest import ENV, MANIFEST, FakeContext, connect_event, disconnect_event, handler, message_event

TABLES = {ENV["CONNECTIONS_TABLE"]: "connections", ENV["ROOM_MEMBERS_TABLE"]: "room_members",
          ENV["MESSAGES_TABLE"]: "messages"}
TRANSACT_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                         "ConditionCheck": "ConditionCheckItem"}


class Recorder:
    def __init__(self) -> None:
        self.function: str | None = None
        self.used: dict[str, set[tuple[str, str, str | None]]] = {}
        self._lock = threading.Lock()

    def record(self, operation: str, params: dict[str, Any]) -> None:
        if self.function is None:
            return
        calls: list[tuple[str, str, str | None]] = []
        if operation == "TransactWriteItems":
            for item in params.get("TransactItems", []):
                (kind, body), = item.items()
                calls.append((f"dynamodb:{TRANSACT_ITEM_ACTIONS[kind]}", TABLES.get(body["TableName"], "?"), None))
        elif operation in ("BatchWriteItem", "BatchGetItem"):
            for table in params.get("RequestItems", {}):
                calls.append((f"dynamodb:{operation}", TABLES.get(table, "?"), None))
        elif "TableName" in params:
            calls.append((f"dynamodb:{operation}", TABLES.get(params["TableName"], "?"), params.get("IndexName")))
        with self._lock:
            self.used.setdefault(self.function, set()).update(calls)


@pytest.fixture
def recorder(aws, monkeypatch):
    rec = Recorder()
    original = BaseClient._make_api_call

    def make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            rec.record(operation_name, api_params)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return rec


def run(rec: Recorder, function: str, event: dict[str, Any], remaining: int = 29_000) -> Any:
    rec.function = function
    try:
        return handler(function)(event, FakeContext(function, remaining))
    finally:
        rec.function = None


def granted(function: str) -> frozenset[tuple[str, str, str | None]]:
    return MANIFEST.functions[function].permissions.dynamodb_grants()


def test_every_dynamodb_call_of_every_function_is_granted_by_the_manifest(recorder, management, handed_off, env):
    # GIVEN a scenario that walks every route (each action the scenario does not spell out gets a bare
    # frame, so a new route is covered too), a 410 during fan-out, and a handed-off fan-out
    rec = recorder
    for cid, user, room in (("a=", "alice", "lobby"), ("b=", "bob", "lobby"), ("c=", "carol", None),
                            ("dead=", "dave", "lobby")):
        run(rec, MANIFEST.routes["$connect"].function, connect_event(cid, user, room))
    management.fail["dead="] = ["GoneException"]
    bodies = [
        {"action": "joinRoom", "roomId": "second"}, {"action": "leaveRoom", "roomId": "second"},
        {"action": "ping"},
        {"action": "sendMessage", "targetUserId": "bob", "text": "dm", "clientMessageId": "k1"},
        {"action": "sendMessage", "targetUserId": "bob", "text": "dm", "clientMessageId": "k1"},  # duplicate
        {"action": "sendMessage", "roomId": "lobby", "text": "room"},
        {"action": "broadcast", "text": "all", "clientMessageId": "k2"},
        {"action": "broadcast", "roomId": "lobby", "text": "room-bc"},
        {"action": "getHistory", "roomId": "lobby"}, {"action": "getHistory", "withUserId": "bob"},
        {"action": "getHistory", "broadcast": True},
        {"action": "nothing"},
    ]
    bodies += [{"action": action} for action in MANIFEST.client_actions if action not in {b["action"] for b in bodies}]
    for body in bodies:
        event = message_event("a=", "alice", body)
        function = MANIFEST.routes[event["requestContext"]["routeKey"]].function
        result = run(rec, function, event)
        frame = json.loads(result["body"])
        assert frame["type"] != "error" or frame["code"] == "UNKNOWN_ACTION", (body, frame)
    # a broadcast that runs out of time hands the rest to the fan-out worker, which checkpoints
    env.setenv("FANOUT_PAGE_SIZE", "1")
    broadcast = MANIFEST.routes["broadcast"].function
    run(rec, broadcast, message_event("c=", "carol", {"action": "broadcast", "text": "late"}), remaining=100)
    assert handed_off, "the scenario must exercise the continuation worker"
    continuation = json.loads(json.dumps(handed_off[-1].to_event()))
    run(rec, MANIFEST.fanout_worker, continuation, remaining=300_000)
    run(rec, MANIFEST.fanout_worker, continuation, remaining=300_000)  # Lambda's retry of the same event
    for cid, user in (("a=", "alice"), ("b=", "bob")):
        run(rec, MANIFEST.routes["$disconnect"].function, disconnect_event(cid, user))

    # THEN every call was granted to the function that made it
    missing = {fn: sorted(calls - granted(fn), key=str) for fn, calls in rec.used.items() if calls - granted(fn)}
    assert missing == {}, f"calls the manifest does not grant (AccessDenied on AWS): {missing}"
    # AND every function that may touch DynamoDB ran (the authorizer and $default never do)
    assert {name for name, fn in MANIFEST.functions.items() if fn.permissions.dynamodb} <= rec.used.keys()
