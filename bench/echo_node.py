"""Section 3a's load client: ``bench/echo_client.js`` (Node's ``ws``, pinned in tools/node/package.json).

One Node process holds the 10 echo clients. A Python client on the same 2 cores spends about as
much CPU per frame as the gateway does, so it measures itself as much as the stack; the Node client
costs a fraction of that. Same protocol as :func:`bench.stack_sections.echo`: closed-loop round trips
first (latency), then ``window`` frames in flight per client (msg/s). 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.stack_sections import echo_figures
from emulator.config import DEV_JWT_SECRET
from emulator.tokens import mint_token

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "echo_client.js"
NODE_MODULES = REPO / ".tools" / "node" / "node_modules"  # tools/install_node_tools.sh
#: The Node client fails when no frame arrived for this long (a stall), however long the whole run takes
#: on a loaded machine: it waits for the frames, not for a deadline.
STALL_S = 60.0


def available() -> bool:
    return shutil.which("node") is not None and (NODE_MODULES / "ws").is_dir()


def run(urls: list[str], *, frame: str, warmup_msgs: int = 0, latency_msgs: int, throughput_msgs: int,
        window: int, reply_type: str | None, delivery_type: str | None = None,
        deliveries_per_message: int = 0) -> dict[str, Any]:
    """One Node process, one client per URL; returns its raw figures (RTTs in ms, pipelined count,
    elapsed s). Raises if the client fails, stalls (no frame for STALL_S) or sees a reply of another type."""
    if not available():
        raise RuntimeError(f"the Node echo client needs node and {NODE_MODULES / 'ws'} "
                           "(tools/install_node_tools.sh installs it; `make bench` runs that)")
    spec = {"urls": urls, "frame": frame, "warmupMsgs": warmup_msgs, "latencyMsgs": latency_msgs,
            "pipelinedMsgs": throughput_msgs, "window": window, "replyType": reply_type,
            "deliveryType": delivery_type, "deliveriesPerMessage": deliveries_per_message,
            "stallMs": int(STALL_S * 1000)}
    out = subprocess.run(["node", str(SCRIPT), json.dumps(spec)], capture_output=True, text=True,  # noqa: S603, S607
                         env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"echo client failed ({out.returncode}): {out.stderr[:800]}")
    result = dict(json.loads(out.stdout))
    if result["pipelined"] != throughput_msgs * len(urls):
        raise RuntimeError(f"echo client got {result['pipelined']} of {throughput_msgs * len(urls)} replies")
    return result


def echo(ws_url: str, *, clients: int, latency_msgs: int, throughput_msgs: int, window: int,
         frame: dict[str, Any], reply_type: str | None, user_prefix: str, room: str | None = None) -> dict[str, Any]:
    """With ``room``, every client joins it at connect (``?room=``) and each frame is also delivered to
    the other clients: the figures then include deliveries per second."""
    query = f"&room={room}" if room else ""
    urls = [f"{ws_url}?token={mint_token(f'{user_prefix}{i}', DEV_JWT_SECRET, ttl_seconds=3600)}{query}"
            for i in range(clients)]
    t0 = time.perf_counter()
    result = run(urls, frame=json.dumps(frame, separators=(",", ":")), latency_msgs=latency_msgs,
                 throughput_msgs=throughput_msgs, window=window, reply_type=reply_type,
                 delivery_type="message" if room else None, deliveries_per_message=clients - 1 if room else 0)
    rtts = [x / 1000 for x in result["rtts_ms"]]
    out = {**echo_figures("node ws", clients, frame, rtts, result["pipelined"], window, result["elapsed_s"]),
           "client_wall_s": round(time.perf_counter() - t0, 2)}
    if room:
        out["deliveries"] = result["deliveries"]
        out["deliveries_per_s"] = round(result["deliveries"] / max(result["deliveries_elapsed_s"], 1e-9))
    return out
