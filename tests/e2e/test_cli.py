"""`python -m emulator` as `make run` starts it: banner, a working socket, Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys

import psutil
import pytest
import websockets

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e


def test_help_lists_the_subcommands_and_flags():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "emulator", "run", "--help"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    for flag in ("--port", "--idle-timeout", "--throttle-rate", "--fault-post-latency-ms", "--dynamodb"):
        assert flag in out


async def test_run_prints_the_banner_serves_clients_and_stops_cleanly_on_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "run", "--port", "0", "--table-prefix", "cli-", cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        banner = ""
        async with asyncio.timeout(90):
            while "Ctrl-C stops everything" not in banner:
                line = await proc.stderr.readline()
                assert line, f"emulator exited early: {banner[-2000:]}"
                banner += line.decode()
        ws_url = re.search(r"WebSocket \(clients\):\s+(ws://127\.0\.0\.1:\d+/dev)", banner).group(1)
        assert re.search(r"Management endpoint:\s+http://127\.0\.0\.1:\d+/dev", banner)
        assert "/_local/demo/index.html" in banner and "python -m emulator token" in banner
        token_proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "emulator", "token", "--user", "u_cli",
                                                          cwd=REPO, stdout=asyncio.subprocess.PIPE)
        token = (await token_proc.communicate())[0].decode().strip()
        async with websockets.connect(f"{ws_url}?token={token}") as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "pong"
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left behind: {[p.cmdline()[:2] for p in alive]}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
