"""Helpers shared by the reliability e2e tests (test_bad_input.py, test_reliability_*.py): read the
tables directly (bypassing our code and the fault proxy), and talk to a client frame by frame."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import boto3

from emulator import Faults
from tests.e2e.conftest import FRAME_BYTES, in_frames, open_client, recv_json, recv_until, stack_fixture

# The ``stack`` of modules that import this: its per-connection rate limit is out of reach
# (test_reliability_security.py tests the limit itself), so that many frames from one connection are
# judged on their content only.
stack_without_rate_limit = stack_fixture(name="stack", extra_env={"RATE_LIMIT_PER_MINUTE": "100000"})


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def table(stack: Any, env_name: str) -> Any:
    dynamodb = boto3.resource("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
    return dynamodb.Table(stack.handler_env[env_name])


def scan_all(tbl: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = tbl.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stored_by(stack: Any, user: str) -> list[dict[str, Any]]:
    """Every messages-table item this user caused: messages they sent and their idempotency items."""
    return [i for i in scan_all(table(stack, "MESSAGES_TABLE"))
            if i.get("senderId") == user or i["conversationId"] == f"dedup#{user}"]


def rows_of(stack: Any, user: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(table(stack, "CONNECTIONS_TABLE")) if i.get("userId") == user]


def memberships_of(stack: Any, user: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(table(stack, "ROOM_MEMBERS_TABLE")) if i.get("userId") == user]


async def assert_still_works(ws: Any) -> None:
    await ws.send(json.dumps({"action": "ping"}))
    assert (await recv_until(ws, lambda f: f.get("type") != "message"))["type"] == "pong"


async def reply_to(ws: Any, body: Any, timeout: float = 15.0) -> dict[str, Any]:
    """Sends a frame and returns the next frame that is not a chat message (the reply, or a gateway frame)."""
    text = body if isinstance(body, str) else json.dumps(body)
    await ws.send(text if len(text.encode()) <= FRAME_BYTES else in_frames(text))
    return await recv_until(ws, lambda f: f.get("type") != "message", timeout=timeout)


async def first_message(ws: Any, timeout: float = 15.0) -> dict[str, Any]:
    return await recv_until(ws, lambda f: f.get("type") == "message", timeout=timeout)


async def room_of(stack: Any, size: int) -> tuple[str, list[tuple[Any, str, str]]]:
    """``size`` clients (socket, user, connection id) in a fresh room."""
    room = uid("room")
    clients = []
    for _ in range(size):
        user = uid("u")
        ws, cid = await open_client(stack, user, room=room)
        clients.append((ws, user, cid))
    return room, clients


async def close_all(clients: list[tuple[Any, str, str]]) -> None:
    await asyncio.gather(*(ws.close() for ws, _, _ in clients))


@contextlib.asynccontextmanager
async def fresh_room(stack: Any, size: int) -> AsyncIterator[tuple[str, list[tuple[Any, str, str]]]]:
    """``room_of`` for the length of a test: afterwards the faults are off and the clients closed."""
    room, clients = await room_of(stack, size)
    try:
        yield room, clients
    finally:
        stack.set_faults(Faults())
        await close_all(clients)


__all__ = ["assert_still_works", "close_all", "fresh_room", "room_of", "first_message", "memberships_of", "recv_json", "reply_to", "rows_of",
           "scan_all", "stored_by", "table", "uid"]
