"""Cold start and package size, per function of manifest.json.

Each measurement is a fresh interpreter with the layer (shared/) and the function's folder on
sys.path, as Lambda lays them out (/opt/python + /var/task); cwd is a temporary folder so nothing
else of the repo is importable. ``import_ms`` times ``import handler`` (wall clock), ``import_cpu_ms``
the same in process CPU time, which other processes on a busy machine barely disturb; the
reference is the same interpreter doing ``import boto3``, run right after each handler import so
that every ratio compares two neighbouring runs (the goal uses the median paired CPU-time ratio). ``first_invoke_ms`` is one call of the handler right after the
import, with its clients created on the way (against the bench's local stack), as the first
request after a cold start does. The row ``authorizer (oidc)`` is the same authorizer with
AUTH_MODE=oidc: its first invocation also fetches a local issuer's discovery document and JWKS
(emulator.oidc_issuer.IssuerServer on loopback) and loads cryptography's keys, as a cold container
in oidc mode does. Medians of ``runs`` runs (after one unrecorded warm-up that
writes the .pyc files, as a deployed zip would ship them or the runtime would cache them).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from emulator import events
from emulator.config import DEV_JWT_SECRET
from emulator.oidc_issuer import IssuerServer
from emulator.tokens import mint_token

REPO = Path(__file__).resolve().parent.parent
CHILD = r"""
import json, os, sys, time
if os.environ.get("BENCH_CPU"):  # every timed import on the same core: pairs compare like with like
    os.sched_setaffinity(0, {int(os.environ["BENCH_CPU"])})
t0, c0 = time.perf_counter(), time.process_time()
if sys.argv[1] == "boto3":
    import boto3  # noqa: F401
    print(json.dumps({"import_ms": (time.perf_counter() - t0) * 1000,
                      "import_cpu_ms": (time.process_time() - c0) * 1000}))
    raise SystemExit(0)
import handler
t1 = time.perf_counter()
out = {"import_ms": (t1 - t0) * 1000, "import_cpu_ms": (time.process_time() - c0) * 1000,
       "modules": len(sys.modules)}
if len(sys.argv) > 2:
    class Context:
        function_name = sys.argv[1]
        aws_request_id = "cold-start"
        memory_limit_in_mb = "512"
        def get_remaining_time_in_millis(self):
            return 29000
    event = json.loads(sys.argv[2])
    try:
        result = handler.lambda_handler(event, Context())
        out["status"] = result.get("statusCode") if isinstance(result, dict) else None
        if isinstance(result, dict) and "policyDocument" in result:
            out["status"] = result["policyDocument"]["Statement"][0]["Effect"]
    except Exception as e:
        out["status"] = type(e).__name__
    out["first_invoke_ms"] = (time.perf_counter() - t1) * 1000
print(json.dumps(out))
"""
CALLER = "coldCallerId="
ROOM = "coldroom"
OIDC_ROW = "authorizer (oidc)"


def _events(fn: str, stage: str, endpoint: str, api_id: str = "benchapi", token: str | None = None) -> dict[str, Any]:
    base = events.base_context(connection_id=CALLER, connected_at_ms=int(time.time() * 1000),
                               domain_name="127.0.0.1", stage=stage, api_id=api_id, source_ip="127.0.0.1",
                               user_agent="bench")
    auth = {"principalId": "cold-user", "userId": "cold-user"}
    token = token or mint_token("cold-user", DEV_JWT_SECRET)

    def message(route: str, body: dict[str, Any]) -> dict[str, Any]:
        return events.message_event(base, route_key=route, request_id="r1", body=json.dumps(body), authorizer=auth)

    fanout_job = {"type": "chat.fanout.continue", "frame": {"type": "message", "messageId": "cold"},
                  "segments": [{"kind": "room", "key": "cold-empty-room"}], "endpoint": endpoint, "exclude": [],
                  "cursor": None, "pending": [], "hops": 0}
    table = {
        "authorizer": events.authorizer_event(base, method_arn="arn:aws:execute-api:us-east-1:1:benchapi/x/$connect",
                                              request_id="r1", headers={}, multi_headers={},
                                              query={"token": token}, multi_query={"token": [token]},
                                              stage_variables={}),
        "connect": events.connect_event(base, request_id="r1", headers={}, multi_headers={},
                                        query={"room": ROOM}, multi_query={"room": [ROOM]}, authorizer=auth),
        "disconnect": events.disconnect_event(dict(base, connectionId="coldNeverConnected="), request_id="r1",
                                              host="127.0.0.1", status_code=1000, reason="", authorizer=auth),
        "cleanup": events.disconnect_event(base, request_id="r2", host="127.0.0.1", status_code=1000, reason="",
                                           authorizer=auth),
        "default": message("$default", {"action": "nope"}),
        "send_message": message("sendMessage", {"action": "sendMessage", "roomId": ROOM, "text": "cold"}),
        "broadcast": message("broadcast", {"action": "broadcast", "roomId": ROOM, "text": "cold"}),
        "join_room": message("joinRoom", {"action": "joinRoom", "roomId": "coldroom2"}),
        "leave_room": message("leaveRoom", {"action": "leaveRoom", "roomId": "coldroom2"}),
        "get_history": message("getHistory", {"action": "getHistory", "roomId": ROOM}),
        "ping": message("ping", {"action": "ping"}),
        "fanout": fanout_job,
    }
    return table[fn]


def _child(fn: str, env: dict[str, str], event: dict[str, Any] | None, cwd: str) -> dict[str, Any]:
    folder = "authorizer" if fn == OIDC_ROW else fn
    path = [str(REPO / "shared")] + ([] if fn == "boto3" else [str(REPO / "functions" / folder)])
    argv = [sys.executable, "-c", CHILD, fn] + ([json.dumps(event)] if event is not None else [])
    child_env = {**env, "PYTHONPATH": os.pathsep.join(path), "PYTHONDONTWRITEBYTECODE": "",
                 "BENCH_CPU": str(max(os.sched_getaffinity(0)))}
    out = subprocess.run(argv, cwd=cwd, env=child_env, capture_output=True, text=True, timeout=60,  # noqa: S603
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start child for {fn} failed: {out.stderr[-600:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(functions: list[str], handler_env: dict[str, str], stage: str, runs: int,
            invoke_runs: int = 5) -> dict[str, Any]:
    """``runs`` paired import timings per function; the first ``invoke_runs`` also time a first invocation."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(handler_env)
    env["LOG_LEVEL"] = "WARNING"
    endpoint = handler_env["MANAGEMENT_ENDPOINT"]
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cwd, IssuerServer("bench-oidc") as idp:
        oidc_env = {**env, "AUTH_MODE": "oidc", "OIDC_ISSUER": idp.url, "OIDC_AUDIENCE": "bench-oidc"}
        oidc_event = _events("authorizer", stage, endpoint, token=idp.issuer.mint("cold-user"))
        _child("connect", env, _events("connect", stage, endpoint), cwd)  # registers the caller (+ its room)
        _child("boto3", env, None, cwd)  # warm-up
        boto_wall, boto_cpu, rows = [], [], {}
        rows_to_measure = [*functions, *([OIDC_ROW] if "authorizer" in functions else [])]
        for fn in rows_to_measure:
            fn_env = oidc_env if fn == OIDC_ROW else env
            _child(fn, fn_env, None, cwd)  # warm-up: .pyc files
            imports, cpus, wall_ratio, cpu_ratio, invokes, statuses = [], [], [], [], [], set()
            for i in range(runs):
                mine = _child(fn, fn_env, None, cwd)
                ref = _child("boto3", env, None, cwd)
                imports.append(mine["import_ms"])
                cpus.append(mine["import_cpu_ms"])
                boto_wall.append(ref["import_ms"])
                boto_cpu.append(ref["import_cpu_ms"])
                wall_ratio.append(mine["import_ms"] / ref["import_ms"])
                cpu_ratio.append(mine["import_cpu_ms"] / ref["import_cpu_ms"])
                if i >= invoke_runs:
                    continue
                if fn == "leave_room":  # leave a room the caller is in, every time
                    _child("join_room", env, _events("join_room", stage, endpoint), cwd)
                event = oidc_event if fn == OIDC_ROW else _events(fn, stage, endpoint)
                r = _child(fn, fn_env, event, cwd)
                invokes.append(r["first_invoke_ms"])
                statuses.add(str(r.get("status")))
            med = statistics.median
            rows[fn] = {"import_ms": round(med(imports), 1), "import_cpu_ms": round(med(cpus), 1),
                        "import_cpu_min_ms": round(min(cpus), 1),
                        "import_vs_boto3": round(med(cpu_ratio), 2),
                        "import_vs_boto3_wall": round(med(wall_ratio), 2),
                        "first_invoke_ms": round(med(invokes), 1),
                        "cold_total_ms": round(med(imports) + med(invokes), 1),
                        "first_invoke_status": sorted(statuses)}
        # unregister the caller: later sections count every registry row as audience
        _child("disconnect", env, _events("cleanup", stage, endpoint), cwd)
    boto_min = min(boto_cpu)
    for row in rows.values():
        row["import_vs_boto3_least"] = round(row["import_cpu_min_ms"] / boto_min, 2)
    return {"runs": runs, "invoke_runs": min(runs, invoke_runs), "boto3_import_ms": round(statistics.median(boto_wall), 1),
            "boto3_import_cpu_ms": round(statistics.median(boto_cpu), 1), "boto3_import_cpu_min_ms": round(boto_min, 1),
            "functions": rows}


def wait_for_quiet(threshold_pct: float = 15.0, limit_s: float = 30.0) -> float:
    """Waits (bounded) until the machine's CPU use drops below ``threshold_pct`` (the stack's JVM
    compiles for a while after start-up); returns the last reading."""
    deadline = time.monotonic() + limit_s
    busy = psutil.cpu_percent(interval=0.5)
    while busy >= threshold_pct and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=0.5)
    return busy


def package_sizes() -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, str(REPO / "tools" / "build.py"), "--json"], cwd=REPO,  # noqa: S603
                         capture_output=True, text=True, timeout=300, check=True)
    return list(json.loads(out.stdout))
