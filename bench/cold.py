"""Cold start and package size, per function of the manifest.

Each measurement is a fresh interpreter with the layer (shared/) and the function's folder on
sys.path, as Lambda lays them out (/opt/python + /var/task); cwd is a temporary folder so nothing
else of the repo is importable. ``import_ms`` times ``import handler`` (wall clock), ``import_cpu_ms``
the same in process CPU time, which other processes on a busy machine barely disturb; the
reference is the same interpreter doing ``import boto3``, run right after each handler import so
that every ratio compares two neighbouring runs (the goal uses the median paired CPU-time ratio). ``first_invoke_ms`` is one call of the handler right after the
import (against the bench's local stack), as the first request after a cold start does (wall clock,
and ``first_invoke_cpu_ms`` the interpreter's own CPU time in it: the rest is waiting for DynamoDB
Local and the gateway), and ``second_invoke_ms`` the same event again, warm; those
interpreters carry Lambda's function variables (AWS_LAMBDA_FUNCTION_NAME, memory), so the handler's
init phase (chat.init_phase: clients, settings, the secret or key set) runs during their import as in
Lambda, and ``init_ms`` is its share. The paired import timings run without them: the code's import. The row ``authorizer (oidc)`` is the same authorizer with
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
from manifest import CONNECT, DEFAULT, DISCONNECT, Manifest

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
import importlib
module, _, attribute = os.environ["BENCH_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(module), attribute)
t1 = time.perf_counter()
out = {"import_ms": (t1 - t0) * 1000, "import_cpu_ms": (time.process_time() - c0) * 1000,
       "modules": len(sys.modules)}
init = sys.modules.get("chat.init_phase")
out["init_ms"] = getattr(init, "last_ms", None)  # chat.init_phase.prepare's share of the import
if len(sys.argv) > 2:
    class Context:
        function_name = sys.argv[1]
        aws_request_id = "cold-start"
        memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        def get_remaining_time_in_millis(self):
            return 29000
    event = json.loads(sys.argv[2])
    for name in ("first", "second"):  # the second: the same event, warm (what the first paid extra)
        t1, c1 = time.perf_counter(), time.process_time()
        try:
            result = handler(event, Context())
            status = result.get("statusCode") if isinstance(result, dict) else None
            if isinstance(result, dict) and "policyDocument" in result:
                status = result["policyDocument"]["Statement"][0]["Effect"]
        except Exception as e:
            status = type(e).__name__
        out[f"{name}_invoke_ms"] = (time.perf_counter() - t1) * 1000
        out[f"{name}_invoke_cpu_ms"] = (time.process_time() - c1) * 1000
        out.setdefault("status", status)
print(json.dumps(out))
"""
CALLER = "coldCallerId="
ROOM = "coldroom"
# Richer first frames for the routes that have one (the rest get a bare {"action": <route>}), and what
# must run before one so that it does real work: leaving a room the caller joined, every time.
BODIES = {"sendMessage": {"roomId": ROOM, "text": "cold"}, "broadcast": {"roomId": ROOM, "text": "cold"},
          "joinRoom": {"roomId": "coldroom2"}, "leaveRoom": {"roomId": "coldroom2"}, "getHistory": {"roomId": ROOM}}
BEFORE = {"leaveRoom": "joinRoom"}
OIDC = " (oidc)"  # suffix of the authorizer's second row: the same function in oidc mode


def first_event(fn: str, manifest: Manifest, stage: str, endpoint: str, *, cleanup: bool = False,
                api_id: str = "benchapi", token: str | None = None) -> dict[str, Any] | None:
    """The event of a first invocation of ``fn``, by its role in the manifest (authorizer, fan-out
    worker, or the route it serves); None for a function with neither (measured by import only)."""
    base = events.base_context(connection_id=CALLER, connected_at_ms=int(time.time() * 1000),
                               domain_name="127.0.0.1", stage=stage, api_id=api_id, source_ip="127.0.0.1",
                               user_agent="bench")
    auth = {"principalId": "cold-user", "userId": "cold-user"}
    if fn == manifest.authorizer.function:
        token = token or mint_token("cold-user", DEV_JWT_SECRET)
        return events.authorizer_event(base, method_arn="arn:aws:execute-api:us-east-1:1:benchapi/x/$connect",
                                       request_id="r1", headers={}, multi_headers={}, query={"token": token},
                                       multi_query={"token": [token]}, stage_variables={})
    if fn == manifest.fanout_worker:
        return {"type": "chat.fanout.continue", "frame": {"type": "message", "messageId": "cold"},
                "segments": [{"kind": "room", "key": "cold-empty-room"}], "endpoint": endpoint, "exclude": [],
                "cursor": None, "pending": [], "hops": 0}
    route = manifest.route_of(fn)
    if route is None:
        return None
    if route.key == CONNECT:
        return events.connect_event(base, request_id="r1", headers={}, multi_headers={}, query={"room": ROOM},
                                    multi_query={"room": [ROOM]}, authorizer=auth)
    if route.key == DISCONNECT:  # a connection that never registered, unless this is the final clean-up
        ctx = base if cleanup else dict(base, connectionId="coldNeverConnected=")
        return events.disconnect_event(ctx, request_id="r2" if cleanup else "r1", host="127.0.0.1",
                                       status_code=1000, reason="", authorizer=auth)
    key = manifest.selection_key
    body = {key: "coldUnknownAction"} if route.key == DEFAULT else {key: route.key, **BODIES.get(route.key, {})}
    return events.message_event(base, route_key=route.key, request_id="r1", body=json.dumps(body), authorizer=auth)


def _child(fn: str, env: dict[str, str], event: dict[str, Any] | None, cwd: str,
           handler: str = "handler.lambda_handler", memory_mb: int | None = None) -> dict[str, Any]:
    """Runs ``fn``'s import (and ``event``) in a fresh interpreter; ``fn == "boto3"``: the reference.
    With an event the interpreter has Lambda's function variables, so the handler's init phase
    (chat.init_phase) runs during the import as in Lambda; without, the import is the code's alone."""
    path = [str(REPO / "shared")] + ([] if fn == "boto3" else [str(REPO / "functions" / fn)])
    argv = [sys.executable, "-c", CHILD, fn] + ([json.dumps(event)] if event is not None else [])
    child_env = {**env, "PYTHONPATH": os.pathsep.join(path), "PYTHONDONTWRITEBYTECODE": "",
                 "BENCH_CPU": str(max(os.sched_getaffinity(0))), "BENCH_HANDLER": handler}
    if event is not None:
        child_env.update({"AWS_LAMBDA_FUNCTION_NAME": fn, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb or 512)})
    out = subprocess.run(argv, cwd=cwd, env=child_env, capture_output=True, text=True, timeout=60,  # noqa: S603
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start child for {fn} failed: {out.stderr[-600:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(manifest: Manifest, functions: list[str], handler_env: dict[str, str], stage: str, runs: int,
            invoke_runs: int = 5) -> dict[str, Any]:
    """``runs`` paired import timings per function; the first ``invoke_runs`` also time a first invocation
    (functions with no route and no role in the manifest are timed by import only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(handler_env)
    env["LOG_LEVEL"] = "WARNING"
    endpoint = handler_env["MANAGEMENT_ENDPOINT"]
    connect, disconnect = manifest.routes[CONNECT].function, manifest.routes[DISCONNECT].function
    authorizer = manifest.authorizer.function
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cwd, IssuerServer("bench-oidc") as idp:
        oidc_env = {**env, "AUTH_MODE": "oidc", "OIDC_ISSUER": idp.url, "OIDC_AUDIENCE": "bench-oidc"}

        def child(row: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
            fn = row.removesuffix(OIDC)
            spec = manifest.functions.get(fn)
            return _child(fn, oidc_env if row.endswith(OIDC) else env, event, cwd,
                          spec.handler if spec else "handler.lambda_handler", spec.memory if spec else None)

        def first(row: str, **kwargs: Any) -> dict[str, Any] | None:
            if row.endswith(OIDC):
                kwargs["token"] = idp.issuer.mint("cold-user")
            return first_event(row.removesuffix(OIDC), manifest, stage, endpoint, **kwargs)

        child(connect, first(connect))  # registers the caller (+ its room)
        child("boto3")  # warm-up
        boto_wall, boto_cpu, rows = [], [], {}
        for fn in [*functions, *([authorizer + OIDC] if authorizer in functions else [])]:
            child(fn)  # warm-up: .pyc files
            event, route = first(fn), manifest.route_of(fn.removesuffix(OIDC))
            prepare = manifest.routes[BEFORE[route.key]].function if route and BEFORE.get(route.key) in manifest.routes \
                else None
            imports, cpus, wall_ratio, cpu_ratio, invokes, inits, statuses = [], [], [], [], [], [], set()
            invoke_cpus, seconds = [], []
            for i in range(runs):
                mine, ref = child(fn), child("boto3")
                imports.append(mine["import_ms"])
                cpus.append(mine["import_cpu_ms"])
                boto_wall.append(ref["import_ms"])
                boto_cpu.append(ref["import_cpu_ms"])
                wall_ratio.append(mine["import_ms"] / ref["import_ms"])
                cpu_ratio.append(mine["import_cpu_ms"] / ref["import_cpu_ms"])
                if i >= invoke_runs or event is None:
                    continue
                if prepare is not None:
                    child(prepare, first(prepare))
                r = child(fn, event)
                invokes.append(r["first_invoke_ms"])
                invoke_cpus.append(r["first_invoke_cpu_ms"])
                seconds.append(r["second_invoke_ms"])
                inits.append(r["init_ms"] or 0.0)
                statuses.add(str(r.get("status")))
            med = statistics.median
            invoked = round(med(invokes), 1) if invokes else None
            rows[fn] = {"import_ms": round(med(imports), 1), "import_cpu_ms": round(med(cpus), 1),
                        "import_cpu_min_ms": round(min(cpus), 1),
                        "import_vs_boto3": round(med(cpu_ratio), 2),
                        "import_vs_boto3_wall": round(med(wall_ratio), 2),
                        "init_ms": round(med(inits), 1) if inits else None,
                        "first_invoke_ms": invoked,
                        "first_invoke_cpu_ms": round(med(invoke_cpus), 1) if invoke_cpus else None,
                        "second_invoke_ms": round(med(seconds), 1) if seconds else None,
                        "cold_total_ms": round(med(imports) + (med(inits) if inits else 0.0) + (invoked or 0.0), 1),
                        "first_invoke_status": sorted(statuses)}
        # unregister the caller: later sections count every registry row as audience
        child(disconnect, first(disconnect, cleanup=True))
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
