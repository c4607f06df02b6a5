"""python -m bench [--quick] [--sections cold,offline,emulator,fanout,cost,baseline] [--out build/bench]"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import cold, cost, echo_node, profile, report, stack_sections
from bench.fleet import Fleet
from emulator.config import DEV_JWT_SECRET
from emulator.tokens import mint_token
from harness.limits import raise_nofile
from harness.stack_process import StackProcess
from manifest import Manifest, load_manifest

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("cold", "offline", "emulator", "fanout", "cost", "baseline")
#: main before issue 16 (cost and efficiency): the "before" of section 5's requests and of the sendMessage
#: rate, run side by side in the same bench run (section ``baseline``: its own stack from this commit).
BASELINE_REF = "d73d045"
#: The baseline's rate limit is two conditional UpdateItems (same window, else start a new one): when
#: several messages of one connection race at a minute's turn, the losers of the second update are
#: refused as RATE_LIMITED whatever the limit (fixed by issue 16's one-update limit). The baseline runs
#: with the limit off (RATE_LIMIT_PER_MINUTE=0: one UpdateItem of activity per message), which spares
#: it that second update: the comparison favours the baseline.
BASELINE_ENV = {"RATE_LIMIT_PER_MINUTE": "0"}
SEND_ROOM = "benchSend"
POST_LATENCY_MS = 20.0
INTEGRATION_TIMEOUT_MS = 29_000  # API Gateway's, over any route function's own timeout


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, int, int]  # recipients: room A, room B, everyone
    cold_runs: int  # paired import timings per function (first invocations: at most 5)
    echo_latency_msgs: int  # closed-loop round trips per client
    echo_msgs: int  # pipelined messages per client
    ping_msgs: int
    window: int
    broadcast_repeats: tuple[int, int, int]
    offline_round_trips: int
    handoff_budget_ms: int  # how long the broadcast function may fan out before it must hand off
    send_msgs: int  # sendMessage frames per client (10 clients in one room)
    send_window: int
    cost_reps: int  # runs of each operation in section 5
    cost_big_room: str  # the third room of the dollars table (1,000 recipients in the full run)


PLANS = {
    "full": Plan((1000, 5000, 10000), 11, 300, 3000, 300, 32, (10, 3, 2), 300, 2000, 200, 8, 5, "benchA"),
    "quick": Plan((100, 250, 500), 3, 100, 1000, 100, 32, (5, 3, 2), 100, 500, 60, 8, 3, "benchB"),
}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    mem = psutil.virtual_memory().total / 2**30
    info = {"cpu": model or platform.processor(), "cores": cores, "memory_gib": round(mem, 1),
            "os": platform.platform(), "python": platform.python_version(), "load_avg_start": os.getloadavg()}
    info["summary"] = f"{cores} cores {model}, {mem:.0f} GiB, {platform.system()} {platform.release()}, " \
                      f"Python {platform.python_version()}"
    return info


def room_layout(sizes: tuple[int, int, int]) -> list[str | None]:
    """Client i's room: A has sizes[0]+1 members, B sizes[1]+1, the rest none; sizes[2]+1 in all
    (one sender per audience is excluded from its own broadcast)."""
    a, b, total = sizes[0] + 1, sizes[1] + 1, sizes[2] + 1
    if a + b > total:
        raise ValueError("room audiences must fit in the whole fleet")
    return ["benchA"] * a + ["benchB"] * b + [None] * (total - a - b)


async def stack_run(args: argparse.Namespace, plan: Plan, results: dict[str, Any], manifest: Manifest) -> None:
    sections = set(args.sections)
    if "baseline" in sections:  # first: its stack starts on a quiet machine, as this checkout's does
        try:
            results["baseline"] = await baseline_section(args, plan, manifest)
        except (RuntimeError, TimeoutError, OSError) as e:  # the rest of the bench still runs
            log(f"BASELINE FAILED: {e}")
            results["baseline"] = {"ref": args.baseline_ref, "skipped": f"{type(e).__name__}: {e}"}
    if sections - {"baseline"}:
        await main_stack(args, plan, results, manifest, sections)


async def main_stack(args: argparse.Namespace, plan: Plan, results: dict[str, Any], manifest: Manifest,
                     sections: set[str]) -> None:
    """Every section but ``baseline`` against one stack of this checkout."""
    t0 = time.perf_counter()
    with stack_sections.bench_stack(concurrency=args.concurrency, function_workers=args.function_workers,
                                     dynamodb=args.dynamodb, log_path=args.out / "stack.log") as stack:
        results["stack"] = {"start_s": round(time.perf_counter() - t0, 1), "dynamodb": stack.info["dynamodb_backend"],
                            "pid_rss_empty_mb": round(stack.rss_bytes() / 2**20, 1), "nofile": stack.info["nofile"]}
        empty_rss = stack.rss_bytes()
        if "cold" in sections:
            functions = args.functions or sorted(manifest.functions)
            busy = await asyncio.to_thread(cold.wait_for_quiet)
            log(f"cold start: {len(functions)} functions x {plan.cold_runs} runs (machine CPU {busy:.0f}% busy)")
            results["cold"] = await asyncio.to_thread(cold.measure, manifest, functions, stack.info["handler_env"],
                                                      stack.info["stage"], plan.cold_runs)
        if "offline" in sections:
            from bench import serverless_offline

            log("serverless-offline side by side (npm install on first use)")
            results["offline"] = await serverless_offline.compare(
                stack.ws_url, stack.info["handler_env"], mint_token("offline-user", DEV_JWT_SECRET),
                plan.offline_round_trips)
        if not sections & {"emulator", "fanout", "cost"}:
            return
        fleet = Fleet(stack.ws_url)
        em: dict[str, Any] = {}
        if "emulator" in sections:
            log("echo round trips, 10 clients (Node ws client, then the Python client for comparison)")
            em["echo"] = {
                "$default": await node_echo(stack, frame={"action": "benchEcho"}, reply_type="error",
                                            latency_msgs=plan.echo_latency_msgs, throughput_msgs=plan.echo_msgs,
                                            window=plan.window),
                "ping": await node_echo(stack, frame={"action": "ping"}, reply_type="pong",
                                        latency_msgs=plan.ping_msgs // 3, throughput_msgs=plan.ping_msgs,
                                        window=plan.window),
                "$default (Python client)": await stack_sections.echo(
                    fleet, clients=10, latency_msgs=plan.echo_latency_msgs, throughput_msgs=plan.echo_msgs,
                    window=plan.window, frame={"action": "benchEcho"}, reply_type="error"),
                "sendMessage (room of 10)": await send_rate(stack, plan),
            }
            em["broadcast"] = []
            results["emulator"] = em
        layout = room_layout(plan.sizes)
        stages = [n + 1 for n in plan.sizes]  # 1k/5k/10k recipients + the sender connected
        connect_s = 0.0
        rss_after_connect: list[dict[str, Any]] = []
        for stage_end, repeats in zip(stages, plan.broadcast_repeats, strict=True):
            log(f"connecting clients up to {stage_end}")
            c0 = time.perf_counter()
            await fleet.grow(layout[len(fleet.clients):stage_end], concurrency=args.connect_concurrency)
            connect_s += time.perf_counter() - c0
            rss_after_connect.append({"connections": len(fleet.clients), "stack_rss_mb": round(stack.rss_bytes() / 2**20, 1)})
            if "emulator" in sections:
                log(f"broadcast latency with {stage_end} connected x {repeats}")
                em["broadcast"].append(await stack_sections.broadcast_latency(stack, fleet, repeats))
        if "emulator" in sections:
            em["rss"] = {"connections": len(fleet.clients), "stack_rss_mb": rss_after_connect[-1]["stack_rss_mb"],
                         "after_broadcasts_rss_mb": round(stack.rss_bytes() / 2**20, 1),
                         "empty_stack_rss_mb": round(empty_rss / 2**20, 1),
                         "dynamodb_local_rss_mb": round(stack.rss_bytes(children=True) / 2**20, 1),
                         "function_workers_rss_mb": round(stack.worker_rss_bytes() / 2**20, 1),
                         "function_workers": args.function_workers,
                         "bench_rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
                         "connect_rate_per_s": round(len(fleet.clients) / connect_s, 1),
                         "connect_failures_retried": fleet.connect_failures,
                         "connect_failure_reasons": dict(fleet.failure_reasons),
                         "after_each_connect_stage": rss_after_connect}
        if "fanout" in sections:
            results["fanout"] = await fanout_section(stack, fleet, plan, manifest)
        if "cost" in sections:
            results["cost"] = await cost_section(stack, fleet, plan, manifest)
        log("stopping the stack")


async def send_rate(stack: StackProcess, plan: Plan) -> dict[str, Any]:
    """sendMessage with 10 clients in one room: acks per second, and deliveries (9 per message) per second."""
    return await node_echo(stack, frame={"action": "sendMessage", "roomId": SEND_ROOM, "text": "bench"},
                           reply_type="ack", latency_msgs=plan.send_msgs // 10, throughput_msgs=plan.send_msgs,
                           window=plan.send_window, room=SEND_ROOM)


async def cost_section(stack: StackProcess, fleet: Fleet, plan: Plan, manifest: Manifest) -> dict[str, Any]:
    """Section 5: each operation's DynamoDB requests, units and Lambda time; dollars per million deliveries."""
    await stack.set_faults(post_latency_ms=POST_LATENCY_MS)
    try:
        ops = cost.Operations(stack, fleet, manifest, plan.cost_reps)
        pool = [c for c in fleet.clients if c.room is None]
        log(f"cost: rooms of 10 and 100 recipients (joinRoom), registry {len(fleet.clients)}")
        rooms, joins = await cost.build_rooms(ops, pool, {"cost10": 10, "cost100": 100})
        log("cost: each operation")
        operations = [joins, *await ops.run_all(rooms)]
        big = [c for c in fleet.clients if c.room == plan.cost_big_room]
        log(f"cost: dollars per million deliveries, ours vs the seed design (rooms of 10, 100, {len(big) - 1})")
        dollars = await cost.dollars(stack, fleet, manifest, {**rooms, plan.cost_big_room: big}, ops)
    finally:
        await stack.set_faults(post_latency_ms=0)
    return {"post_latency_ms": POST_LATENCY_MS, "registry_rows": len(fleet.clients), "operations": operations,
            "dollars": dollars, "prices": cost.prices_table(),
            "deliveries_per_connection_minute": cost.DELIVERIES_PER_CONNECTION_MINUTE,
            "architecture": cost.ARCHITECTURE}


async def baseline_section(args: argparse.Namespace, plan: Plan, manifest: Manifest) -> dict[str, Any]:
    """The same sendMessage rate and per-operation requests against a stack of BASELINE_REF (exported
    under build/, sharing .venv and .tools), in the same run: the "before" beside section 3a and 5's "now"."""
    src = args.out / f"baseline-{args.baseline_ref}"
    try:
        commit = export_ref(args.baseline_ref, src)
    except (OSError, subprocess.CalledProcessError) as e:
        log(f"BASELINE SKIPPED: cannot export {args.baseline_ref} ({e}); a shallow clone lacks it")
        return {"ref": args.baseline_ref, "skipped": str(e)}
    log(f"baseline: a stack of {args.baseline_ref} ({commit[:12]})")
    with stack_sections.bench_stack(concurrency=args.concurrency, function_workers=args.function_workers,
                                     dynamodb=args.dynamodb, log_path=args.out / "stack-baseline.log",
                                     repo=src, env=BASELINE_ENV) as stack:
        send = await send_rate(stack, plan)
        fleet = Fleet(stack.ws_url)
        await fleet.grow([None] * 120, concurrency=args.connect_concurrency)
        await stack.set_faults(post_latency_ms=POST_LATENCY_MS)
        ops = cost.Operations(stack, fleet, manifest, plan.cost_reps)
        rooms, joins = await cost.build_rooms(ops, list(fleet.clients), {"cost10": 10, "cost100": 100})
        operations = [joins, *await ops.run_all(rooms)]
        await fleet.close()
    return {"ref": args.baseline_ref, "commit": commit, "send": send, "operations": operations,
            "registry_rows": 120}


def export_ref(ref: str, dest: Path) -> str:
    """``git archive`` of ``ref`` into ``dest`` (once per commit), with this checkout's .tools; its commit id."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=REPO, check=True,  # noqa: S603, S607
                            capture_output=True, text=True).stdout.strip()
    stamp = dest / ".exported"
    if not stamp.exists() or stamp.read_text() != commit:
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, check=True,  # noqa: S603, S607
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)  # noqa: S603, S607
        stamp.write_text(commit)
    tools = dest / ".tools"
    if not tools.exists():
        tools.symlink_to(REPO / ".tools")
    return commit


async def node_echo(stack: StackProcess, *, frame: dict[str, Any], reply_type: str, latency_msgs: int,
                    throughput_msgs: int, window: int, room: str | None = None) -> dict[str, Any]:
    """Section 3a with the Node client (bench/echo_node.py), plus the stack's CPU per message."""
    cpu0 = stack.cpu_seconds()
    out = await asyncio.to_thread(echo_node.echo, stack.ws_url, clients=10, latency_msgs=latency_msgs,
                                  throughput_msgs=throughput_msgs, window=window, frame=frame,
                                  reply_type=reply_type, user_prefix=f"echo-{frame['action']}-", room=room)
    out["stack_cpu_us_per_msg"] = round((stack.cpu_seconds() - cpu0) * 1e6
                                        / (out["round_trips"] + out["pipelined_msgs"]), 1)
    return out


async def fanout_section(stack: StackProcess, fleet: Fleet, plan: Plan, manifest: Manifest) -> dict[str, Any]:
    broadcast_function = manifest.routes["broadcast"].function
    await stack.set_faults(post_latency_ms=POST_LATENCY_MS)
    out: dict[str, Any] = {"post_latency_ms": POST_LATENCY_MS, "registry_rows": len(fleet.clients),
                           "seed_timeout_s": stack_sections.LAMBDA_TIMEOUT_S, "runs": []}
    for n, room in zip(plan.sizes, ("benchA", "benchB", None), strict=True):
        members = [c for c in fleet.clients if room is None or c.room == room]
        sender, audience = members[0], members[1:]
        assert len(audience) == n, (len(audience), n)
        log(f"fan-out N={n}: ours")
        ours = await stack_sections.ours(stack, fleet, sender, audience, room, timeout=300)
        log(f"fan-out N={n}: seed design (simulated {stack_sections.LAMBDA_TIMEOUT_S:.0f} s Lambda timeout)")
        seed = await stack_sections.seed(stack, fleet, sender, audience, room)
        needed = seed["all_received_s"] if not seed["timed_out"] and seed["all_received_s"] else seed["projected_full_s"]
        speed = round(needed / ours["all_received_s"], 1) if ours["all_received_s"] else None
        out["runs"].append({"n": n, "room": room, "ours": ours, "seed": seed, "speedup": speed})
    # Hand-off: the broadcast function starts with little time left (injected latency before the
    # handler counts against its timeout: the manifest's, within the 29 s integration timeout), so it
    # must hand the rest to the fan-out worker.
    margin = int(stack.info["handler_env"].get("FANOUT_TIME_MARGIN_MS", "3000"))
    timeout_ms = min(manifest.functions[broadcast_function].timeout * 1000, INTEGRATION_TIMEOUT_MS)
    latency = timeout_ms - margin - plan.handoff_budget_ms
    await stack.set_faults(lambda_latency_ms=latency, lambda_functions=[broadcast_function])
    sender, audience = fleet.clients[0], fleet.clients[1:]
    log(f"fan-out hand-off N={len(audience)}: {latency} ms injected before the broadcast handler")
    try:
        h = await stack_sections.ours(stack, fleet, sender, audience, None, timeout=300)
    finally:
        await stack.set_faults(lambda_latency_ms=0, lambda_functions=[], post_latency_ms=0)
    h["injected_latency_ms"] = latency
    out["handoff"] = h
    out["profile"] = await profile_run(stack, fleet, plan, args_out=stack.log_path)
    return out


async def profile_run(stack: StackProcess, fleet: Fleet, plan: Plan, args_out: Path | None) -> dict[str, Any]:
    """The middle N's fan-out once more, untimed, under py-spy (bench.profile): where the CPU per post goes."""
    n = plan.sizes[1]
    members = [c for c in fleet.clients if c.room == "benchB"]
    raw = (args_out.parent if args_out else REPO / "build" / "bench") / "fanout-profile.raw"
    log(f"fan-out N={n} again under py-spy (untimed)")
    await stack.set_faults(post_latency_ms=POST_LATENCY_MS)
    spy, why = profile.start(stack.proc.pid, raw) if stack.proc else (None, "no stack process")
    try:
        if spy is not None:  # proportions: samples taken while py-spy still attaches are simply fewer
            await stack_sections.ours(stack, fleet, members[0], members[1:], "benchB", timeout=300)
    finally:
        await stack.set_faults(post_latency_ms=0)
        if spy is not None:
            why = await asyncio.to_thread(profile.stop, spy)
    if why or not raw.exists():
        log(f"PROFILE SKIPPED: {why}")
        return {"n": n, "skipped": why or "no samples written"}
    return {"n": n, **profile.summarize(raw)}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=sys.modules["bench"].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small N (100/250/500), fewer repeats")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default build/bench, or build/bench/quick with --quick)")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="handler threads per function worker (default 32: 64 in all with 2 workers)")
    parser.add_argument("--function-workers", type=int, default=2,
                        help="function worker processes of the stack: one per core (default 2; 0: in-process)")
    parser.add_argument("--connect-concurrency", type=int, default=64, help="handshakes in flight (default 64)")
    parser.add_argument("--dynamodb", choices=("auto", "local", "moto"), default="auto",
                        help="the stack's DynamoDB: auto (DynamoDB Local when Java exists), local or moto")
    parser.add_argument("--baseline-ref", default=BASELINE_REF,
                        help=f"section baseline: the git commit measured as 'before' (default {BASELINE_REF})")
    parser.add_argument("--functions", default="",
                        help="section cold: comma-separated manifest functions to measure (default: all)")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    manifest = load_manifest(REPO)
    args.functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    unknown = set(args.functions) - set(manifest.functions)
    if unknown:
        parser.error(f"not in the manifest: {sorted(unknown)}; functions: {sorted(manifest.functions)}")
    plan = PLANS["quick" if args.quick else "full"]
    if args.out is None:
        args.out = REPO / "build" / "bench" / ("quick" if args.quick else "")
    raise_nofile()
    started = time.perf_counter()
    results: dict[str, Any] = {"started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "mode": "quick" if args.quick else "full", "sections": args.sections,
                               "plan": plan.__dict__, "machine": machine()}
    if "cold" in args.sections:
        log("building the zips (tools/build.py)")
        results["packages"] = cold.package_sizes()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(stack_run(args, plan, results, manifest))
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["goals"] = report.evaluate(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    report.plot(results, args.out / "bench.png")
    print(report.render(results))
    print(f"wrote {args.out / 'results.json'} and {args.out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
