"""Section 4: the same handler under serverless-offline vs our emulator, warm round trip.

serverless@3 + serverless-offline@13 (exact pins in bench/serverless/package.json) are installed
by npm into .tools/serverless (git-ignored; bench only, never a runtime dependency) the first time.
The route is ``$default`` (functions/default: parses the frame, answers an error frame naming the
valid actions; no I/O), so both sides run identical Python and only the gateway/runtime differ.
Not compared: routes that need @connections GET, disconnect codes or the authorizer context, which
serverless-offline lacks or models differently (shared/AWS_FACTS.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench import echo_node
from bench.stack_sections import ms
from harness.stats import percentile as pct

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "bench" / "serverless"
DEST = REPO / ".tools" / "serverless"
READY_TIMEOUT_S = 120.0
FRAMES = {"$default": json.dumps({"action": "bench-echo"}), "ping": json.dumps({"action": "ping"})}
REPLIES = {"$default": "error", "ping": "pong"}


def install() -> Path:
    """npm install the pinned packages into .tools/serverless unless package.json is unchanged."""
    want = hashlib.sha256((SPEC / "package.json").read_bytes()).hexdigest()[:16]
    stamp = DEST / f".installed-{want}"
    if not stamp.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("npm not found: section 'offline' needs Node.js >= 18")
        DEST.mkdir(parents=True, exist_ok=True)
        shutil.copy(SPEC / "package.json", DEST / "package.json")
        log = DEST / "npm-install.log"
        with log.open("w") as out:
            rc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S607
                                cwd=DEST, stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False).returncode
        if rc != 0:
            raise RuntimeError(f"npm install of serverless-offline failed (see {log})")
        for old in DEST.glob(".installed-*"):
            old.unlink()
        stamp.touch()
    app = DEST / "app"
    app.mkdir(exist_ok=True)
    shutil.copy(SPEC / "serverless.yml", app / "serverless.yml")
    link = app / "functions"
    if not link.is_symlink():
        link.symlink_to(REPO / "functions", target_is_directory=True)
    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serverless offline exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)  # readiness poll of a child process, bounded by the deadline
    raise TimeoutError(f"serverless offline did not listen on {port} within {timeout:.0f} s")


async def round_trips(url: str, route: str, n: int, warmup: int) -> list[float]:
    frame = FRAMES[route]
    async with connect(url, ping_interval=None, compression=None, open_timeout=30) as ws:
        for _ in range(warmup):
            await ws.send(frame)
            await asyncio.wait_for(ws.recv(), 30)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            out.append(time.perf_counter() - t0)
            if reply.get("type") != REPLIES[route]:
                raise RuntimeError(f"{route} answered {reply}")
        return out


async def node_round_trips(url: str, route: str, n: int, warmup: int) -> list[float]:
    """The same closed loop with the Node client (bench/echo_node.py): less client CPU in both figures."""
    result = await asyncio.to_thread(echo_node.run, [url], frame=FRAMES[route], warmup_msgs=warmup, latency_msgs=n,
                                     throughput_msgs=0, window=1, reply_type=REPLIES[route])
    return [x / 1000 for x in result["rtts_ms"]]


CLIENTS = {"node ws": node_round_trips, "python websockets": round_trips}


def summary(rtts: list[float]) -> dict[str, Any]:
    return {"round_trips": len(rtts), "p50_ms": ms(pct(rtts, 50)), "p99_ms": ms(pct(rtts, 99)),
            "mean_ms": ms(statistics.fmean(rtts))}


async def compare(ours_url: str, handler_env: dict[str, str], token: str, n: int,
                  warmup: int = 30) -> dict[str, Any]:
    """``ours_url`` and the serverless-offline URL both get ``?token=`` (same authorizer code)."""
    t_install = time.perf_counter()
    app = await asyncio.to_thread(install)
    install_s = time.perf_counter() - t_install
    ws_port, http_port, lambda_port = _free_port(), _free_port(), _free_port()
    sls = DEST / "node_modules" / ".bin" / "serverless"
    passed = {k: v for k, v in handler_env.items()
              if k.endswith("_TABLE") or k in ("AWS_ENDPOINT_URL_DYNAMODB", "JWT_SECRET", "AWS_REGION", "CLIENT_ACTIONS")}
    env = {**os.environ, **passed, "PYTHONPATH": str(REPO / "shared"), "VIRTUAL_ENV": str(REPO / ".venv"),
           "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*",
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    cmd = [str(sls), "offline", "start", "--host", "127.0.0.1", "--websocketPort", str(ws_port),
           "--httpPort", str(http_port), "--lambdaPort", str(lambda_port)]
    theirs_url = f"ws://127.0.0.1:{ws_port}?token={token}"
    mine_url = f"{ours_url}?token={token}"
    results: dict[str, Any] = {}
    with (DEST / "offline.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                start_new_session=True)
        try:
            t0 = time.perf_counter()
            await asyncio.to_thread(_wait_port, ws_port, proc, READY_TIMEOUT_S)
            ready_s = time.perf_counter() - t0
            for route in FRAMES:
                for client, trips in CLIENTS.items():
                    theirs = await trips(theirs_url, route, n, warmup)
                    mine = await trips(mine_url, route, n, warmup)
                    theirs += await trips(theirs_url, route, n, warmup // 3)  # interleaved again: drift check
                    mine += await trips(mine_url, route, n, warmup // 3)
                    a, b = summary(mine), summary(theirs)
                    key = route if client == "node ws" else f"{route} (Python client)"
                    results[key] = {"client": client, "ours": a, "serverless_offline": b,
                                    "ratio_p50": round(a["p50_ms"] / b["p50_ms"], 3),
                                    "ratio_mean": round(a["mean_ms"] / b["mean_ms"], 3)}
        finally:
            os.killpg(proc.pid, 15)  # our own child's process group (node + its python workers)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
    return {"routes": results, "versions": json.loads((SPEC / "package.json").read_text())["devDependencies"],
            "install_s": round(install_s, 1), "startup_s": round(ready_s, 1)}
