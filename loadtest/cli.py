"""``python -m loadtest``: start a local stack (or use a running one on loopback), run the load, print the
report and write it as JSON under build/load/. Exit status 1 when a message was lost, duplicated or
reordered (or nothing was sent), so `make load` fails on any of those."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import platform
import resource
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.control import StackControl
from harness.limits import raise_nofile
from harness.stack_process import StackProcess
from loadtest import ceiling, chaos
from loadtest.runner import LoadParams, Target, run_load

REPO = Path(__file__).resolve().parent.parent
LIMITS = {"clients": (1, 5000), "duration": (1, 900), "rooms": (1, 5000)}
D = LoadParams()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Bounded, loopback-only load/soak test through the local stack: clients in rooms send "
                    "messages for a fixed time with random disconnects/reconnects and injected @connections "
                    "429s; verifies exactly-once delivery and per-sender order from the clients' side. "
                    "See docs/reliability.md.")
    p.add_argument("--clients", type=int, default=D.clients, help=f"WebSocket clients (default {D.clients})")
    p.add_argument("--rooms", type=int, default=D.rooms, help=f"rooms, clients spread evenly (default {D.rooms})")
    p.add_argument("--duration", type=float, default=D.duration_s, help="seconds of sending (default 60)")
    p.add_argument("--interval", type=float, default=D.send_interval_s,
                   help=f"mean seconds between two messages of one client (default {D.send_interval_s:g})")
    p.add_argument("--reconnect-probability", type=float, default=D.reconnect_probability,
                   help=f"chance, after each message, to disconnect and reconnect (default {D.reconnect_probability})")
    p.add_argument("--post-429-rate", type=float, default=D.post_429_rate,
                   help=f"share of @connections POSTs answered 429 (default {D.post_429_rate})")
    p.add_argument("--connect-rate", type=float, default=D.connect_per_second,
                   help=f"new connections per second during the ramp (default {D.connect_per_second:g})")
    p.add_argument("--drain-timeout", type=float, default=D.drain_timeout_s,
                   help="seconds to wait for in-flight deliveries after sending stops (default 30)")
    p.add_argument("--text-bytes", type=int, default=D.text_bytes, help="message text size (default 64)")
    p.add_argument("--seed", type=int, default=None, help="seed of the load's random choices")
    p.add_argument("--base-url", default=None,
                   help="use a running local stack at this loopback URL (e.g. http://127.0.0.1:8080) instead "
                        "of starting one")
    p.add_argument("--concurrency", type=int, default=16,
                   help="handler threads of the started stack (default 16: fewer threads, less GIL contention)")
    p.add_argument("--function-workers", type=int, default=2,
                   help="sandboxes per function of the started stack when it is busy (default 2: a function "
                        "under load gets a second process, as Lambda starts more execution environments; "
                        "`make run` has 1)")
    p.add_argument("--dynamodb-proxy", action="store_true",
                   help="keep the stack's DynamoDB fault proxy (one more HTTP hop per call; the load injects "
                        "no DynamoDB faults, so it is off by default)")
    p.add_argument("--chaos", action=argparse.BooleanOptionalAction, default=D.chaos,
                   help="during the sending phase: SIGKILL a function worker, pause DynamoDB Local 2 s, "
                        "@connections 500/503 for 1 s, a burst of reconnects (schedule: loadtest/chaos.py; "
                        "on in `make load`)")
    p.add_argument("--ceiling", action="store_true",
                   help="measure the stack's ceiling instead: the same load without chaos at rising offered "
                        "rates (--ceiling-steps) against one stack, each step with its CPU by process group; "
                        "--duration is each step's (`make load-ceiling`)")
    p.add_argument("--ceiling-steps", type=_rates, default=ceiling.DEFAULT_STEPS,
                   help="offered msg/s of the steps, comma-separated (default "
                        f"{','.join(f'{r:g}' for r in ceiling.DEFAULT_STEPS)})")
    p.add_argument("--out", type=Path, default=REPO / "build" / "load", help="report directory (build/load)")
    return p


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of rates: {text!r}") from None
    if not rates or any(not 0 < r <= 2000 for r in rates) or list(rates) != sorted(rates):
        raise argparse.ArgumentTypeError("rates must rise, each above 0 and at most 2000 msg/s")
    return rates


def check_bounds(args: argparse.Namespace) -> None:
    for name, (low, high) in LIMITS.items():
        value = getattr(args, name)
        if not low <= value <= high:
            raise SystemExit(f"--{name} must be between {low} and {high} (the load is bounded on purpose)")
    if args.rooms > args.clients:
        raise SystemExit("--rooms must not exceed --clients")
    for name in ("reconnect_probability", "post_429_rate"):
        if not 0 <= getattr(args, name) <= 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.interval <= 0 or args.connect_rate <= 0:
        raise SystemExit("--interval and --connect-rate must be > 0")
    if args.ceiling and args.chaos:
        raise SystemExit("--ceiling measures the stack without chaos: leave out --chaos")
    if args.base_url is not None and not is_loopback(args.base_url):
        raise SystemExit("--base-url must be a loopback address: the load test never leaves this machine")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def params_from(args: argparse.Namespace) -> LoadParams:
    return LoadParams(clients=args.clients, rooms=args.rooms, duration_s=args.duration,
                      send_interval_s=args.interval, reconnect_probability=args.reconnect_probability,
                      post_429_rate=args.post_429_rate, connect_per_second=args.connect_rate,
                      drain_timeout_s=args.drain_timeout, text_bytes=args.text_bytes, seed=args.seed,
                      chaos=args.chaos)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    params = params_from(args)
    stack: StackProcess | None = None
    try:
        if args.base_url is None:
            # the stage throttle would refuse the load itself; the per-connection limit and AWS's other
            # quotas stay on (harness.stack_server --quotas stage)
            stack = StackProcess(concurrency=args.concurrency, function_workers=args.function_workers, quotas="stage",
                                 dynamodb_proxy="faults" if args.dynamodb_proxy else "none",
                                 log_path=args.out / "stack.log")
            print(f"starting the local stack (log: {stack.log_path}) ...", flush=True)
            await asyncio.to_thread(stack.start)
            base_url = stack.base_url
        else:
            base_url = args.base_url
        async with StackControl(base_url) as control:
            info = await control.info()
            target = Target(ws_url=str(info["wsUrl"]), token=control.token, set_faults=control.set_faults,
                            process_groups=stack.process_groups if stack else (lambda: {}),
                            info=_info_with_dynamodb_pid(control, stack))
            if params.chaos:
                print("chaos schedule (from the start of the sending phase):\n  "
                      + "\n  ".join(chaos.describe(params.duration_s)), flush=True)
            progress = lambda s: print(s, flush=True)  # noqa: E731
            report = (await ceiling.sweep(target, params, args.ceiling_steps, progress) if args.ceiling
                      else await run_load(target, params, progress=progress))
            report["stack"] = {"started_by_loadtest": stack is not None,
                               "dynamodb": stack.info["dynamodb_backend"] if stack
                               else info.get("dynamodb", {}).get("backend")}
    finally:
        if stack is not None:
            stack.stop()
    report["client_process_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


def _info_with_dynamodb_pid(control: StackControl, stack: StackProcess | None) -> Any:
    """/_local/info, with DynamoDB Local's process id from the stack process we started (its DynamoDB is
    the stack server's own, not the LocalStack's)."""

    async def info() -> dict[str, Any]:
        data = await control.info()
        if stack is not None and stack.info.get("dynamodb_pid"):
            data.setdefault("dynamodb", {})["pid"] = stack.info["dynamodb_pid"]
        return data

    return info


def render(report: dict[str, Any]) -> str:
    p = report["params"]
    rss = report["peak_rss_mb"]
    rows = [
        ("clients / rooms", f"{p['clients']} / {p['rooms']}"),
        ("sending phase", f"{report['durations_s']['send']} s (warm-up {report['durations_s']['warmup']} s, "
                          f"drain {report['durations_s']['drain']} s)"),
        ("injected 429 rate on @connections", f"{p['post_429_rate']:.1%}"),
        ("connections opened (reconnects)", f"{report['connections_total']} ({report['reconnects']})"),
        ("messages sent / acked", f"{report['sent']} / {report['acked']}"),
        ("intended deliveries", report["expected_deliveries"]),
        ("delivered", report["delivered"]),
        ("lost (goal 0)", report["lost"]),
        ("offered rate", f"{report['offered_messages_per_s']} msg/s ({p['clients']} clients, one message "
                         f"per {p['send_interval_s']:g} s each; {report['throughput']['offered_messages_per_s']} "
                         f"realised by their random schedules)"),
        ("repeats seen on the wire", report["duplicated"]),
        ("duplicated after dedupe by messageId (goal 0)", report["duplicated_after_dedupe"]),
        ("per-sender order violations (goal 0)", report["order_violations"]),
        ("stored twice / wrong messageId (goal 0)", report["wrong_message_id"]),
        ("acks: handed off or duplicate", report["handed_off"]),
        ("extra deliveries (joined mid-send)", report["extra_deliveries"]),
        ("delivery latency p50 / p99", f"{report['latency_ms']['p50']} / {report['latency_ms']['p99']} ms"),
        ("ack latency p50 / p99", f"{report['ack_latency_ms']['p50']} / {report['ack_latency_ms']['p99']} ms"),
        ("throughput", f"{report['throughput']['messages_per_s']} msg/s, "
                       f"{report['throughput']['deliveries_per_s']} deliveries/s"),
        ("resent after the delivery lease (duplicate ack after an error)", report["confirmed_after_lease"]),
        ("send errors (retried)", json.dumps(report["send_errors"]) if report["send_errors"] else "none"),
    ]
    rows += [(f"peak RSS: {name}", f"{value} MB") for name, value in rss.items()]
    cpu = report.get("cpu_cores_while_sending") or {}
    rows += [(f"CPU while sending: {name}", f"{cores} cores") for name, cores in cpu.get("by_group", {}).items()]
    if cpu:
        rows.append(("bottleneck", cpu["verdict"]))
    for entry in report.get("chaos", []):
        details = {k: v for k, v in entry.items() if k not in ("fault", "at_s", "what", "done_at_s")}
        rows.append((f"chaos t+{entry['at_s']} s {entry['fault']}", json.dumps(details)))
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(["", "  load test report", "  " + "-" * (width + 20), *lines, ""])


def passed(report: dict[str, Any]) -> bool:
    return (report["sent"] > 0 and report["lost"] == 0 and report["duplicated_after_dedupe"] == 0
            and report["order_violations"] == 0 and report["wrong_message_id"] == 0
            and not any("error" in entry for entry in report.get("chaos", [])))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_bounds(args)
    raise_nofile()
    started = datetime.now(timezone.utc)
    report = asyncio.run(_main(args))
    report["started_at"] = started.isoformat(timespec="seconds")
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "platform": platform.platform()}
    if args.ceiling:
        report["passed"] = ceiling.passed(report)
        path = _write(report, args.out, f"ceiling-{started.strftime('%Y%m%dT%H%M%SZ')}.json", "ceiling-latest.json")
        print(ceiling.render(report))
    else:
        report["passed"] = passed(report)
        path = _write(report, args.out, f"load-{started.strftime('%Y%m%dT%H%M%SZ')}-{p_clients(report)}c.json",
                      "latest.json")
        print(render(report))
    print(f"  report: {path}")
    print("  PASS: no message lost, duplicated (after dedupe by messageId) or reordered" if report["passed"]
          else "  FAIL: see lost/duplicated/order above", flush=True)
    return 0 if report["passed"] else 1


def _write(report: dict[str, Any], out: Path, name: str, latest: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True)
    (out / name).write_text(text)
    (out / latest).write_text(text)
    return out / name


def p_clients(report: dict[str, Any]) -> int:
    return int(report["params"]["clients"])


if __name__ == "__main__":
    sys.exit(main())
