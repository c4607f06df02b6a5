"""The same gateway driven by other real clients: wscat (npm) and websocat (static binary)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.conftest import node_tool, websocat_binary, ws_url

pytestmark = pytest.mark.e2e


async def _exchange(cmd: list[str], line: str | None, expect: str, timeout: float = 20.0) -> str:
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        async with asyncio.timeout(timeout):
            if line is not None:
                proc.stdin.write((line + "\n").encode())
                await proc.stdin.drain()
            while True:  # stdin stays open until the end: wscat exits when it closes
                out = await proc.stdout.readline()
                if not out:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise AssertionError(f"{cmd[0]} exited: {err.decode(errors='replace')[-500:]}")
                if expect in out.decode(errors="replace"):
                    return out.decode()
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def test_wscat_sends_ping_and_receives_pong(stack):
    # -x sends once the socket is open (wscat drops piped input typed before that)
    out = await _exchange([*node_tool("wscat"), "-c", ws_url(stack, "u_wscat"), "-x", json.dumps({"action": "ping"}),
                           "-w", "15"], None, '"pong"')
    assert '"type":"pong"' in out.replace(" ", "")


async def test_websocat_sends_ping_and_receives_pong(stack):
    out = await _exchange([websocat_binary(), "--text", ws_url(stack, "u_websocat")],
                          json.dumps({"action": "ping"}), '"pong"')
    assert '"type":"pong"' in out.replace(" ", "")
