"""The local stack in its own process, as the benchmarks and the load test run it
(``python -m harness.stack_server``; :class:`harness.stack_process.StackProcess` starts it).

Starts the embedded DynamoDB, optionally a proxy in front of it (``--dynamodb-proxy count``: the
counting proxy of :mod:`harness.dynamodb_counter`, what the benchmarks read their item counts, request
units and, from :mod:`harness.invocations`, the Lambda invocations and billed durations from;
``faults``: the emulator's own throttling proxy; ``none``), and a :class:`emulator.LocalStack` on a
free loopback port. When it is ready it writes one JSON line (URLs, handler environment, process
ids) to the file descriptor ``--ready-fd`` (stdout and stderr stay free for the handlers' logs), then
runs until stdin closes or SIGTERM.

``--quotas lifted`` (the benchmarks: they measure the emulator's capacity, not AWS's account quotas)
lifts the stage throttle and the new-connections quota and sets the idle timeout to 30 min (a full run
holds idle clients); ``--quotas stage`` (the load test) lifts only the stage throttle, which would
refuse the load itself, and keeps AWS's other quotas. Invocations are not logged one line each unless
``--log-invocations`` asks (a line per message would measure the terminal). Documented in
docs/benchmarks.md and docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from emulator import LocalStack, Quotas, StackConfig, loops
from emulator.cli import configure_logging
from emulator.config import REPO_ROOT, SANDBOX_MODES
from emulator.dynamodb import EmbeddedDynamoDB
from harness.dynamodb_counter import STATS_PATH, CountingProxy
from harness.invocations import InvocationCounter
from harness.limits import raise_nofile

LIFTED = 1_000_000.0
PROXIES = ("count", "faults", "none")
QUOTAS = ("lifted", "stage")


def stack_config(args: argparse.Namespace, dynamodb_endpoint: str) -> StackConfig:
    if args.quotas == "lifted":
        quotas = Quotas(throttling_rate_limit=LIFTED, throttling_burst_limit=int(LIFTED),
                        new_connections_per_second=LIFTED, idle_timeout_s=1800.0)
    else:
        quotas = Quotas(throttling_rate_limit=100_000, throttling_burst_limit=100_000)
    return StackConfig(port=0, dynamodb=dynamodb_endpoint, dynamodb_fault_proxy=args.dynamodb_proxy == "faults",
                       quotas=quotas, log_invocations=args.log_invocations != "off",
                       log_format="json" if args.log_invocations == "json" else "text",
                       handler_log_level=args.handler_log_level,
                       concurrency=args.concurrency, function_workers=args.function_workers,
                       sandboxes_on_demand=args.sandboxes == "on-demand",
                       extra_env=dict(kv.split("=", 1) for kv in args.env))


def ready_line(stack: LocalStack, db: EmbeddedDynamoDB, endpoint: str, stats_url: str | None) -> dict[str, Any]:
    runtime = stack.runtime
    return {"pid": os.getpid(), "ws_url": stack.ws_url, "base_url": stack.base_url,
            "management_url": stack.management_url, "stage": stack.stage,
            "dynamodb_endpoint": endpoint, "dynamodb_backend": db.backend, "dynamodb_pid": db.pid, "stats_url": stats_url,
            "tables": {k: v for k, v in stack.handler_env.items() if k.endswith("_TABLE")},
            "region": stack.config.region, "nofile": raise_nofile(), "handler_env": stack.handler_env,
            "worker_pids": runtime.worker_pids() if runtime else []}


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def stdin_closed() -> None:
        await reader.read()
        stop.set()

    watcher = loop.create_task(stdin_closed())
    db = EmbeddedDynamoDB(REPO_ROOT, args.dynamodb)
    endpoint = await db.start()
    proxy = CountingProxy(endpoint) if args.dynamodb_proxy == "count" else None
    try:
        if proxy is not None:
            endpoint = await loop.run_in_executor(None, proxy.start)
        async with LocalStack(stack_config(args, endpoint)) as stack:
            if proxy is not None:  # the benchmarks' cost figures: Lambda invocations beside DynamoDB's
                invocations = InvocationCounter()
                stack.recorder.subscribe(invocations.observe)
                proxy.add_source("invocations", invocations.snapshot)
            line = ready_line(stack, db, endpoint, endpoint + STATS_PATH if proxy else None)
            os.write(args.ready_fd, (json.dumps(line) + "\n").encode())
            os.close(args.ready_fd)
            await stop.wait()
    finally:
        watcher.cancel()
        if proxy is not None:
            await loop.run_in_executor(None, proxy.stop)
        await db.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.stack_server", description=__doc__.split("\n")[0])
    parser.add_argument("--ready-fd", type=int, required=True, help="write the ready line to this descriptor")
    parser.add_argument("--dynamodb", default="auto", help="auto | local | moto")
    parser.add_argument("--dynamodb-proxy", choices=PROXIES, default="none",
                        help="count: item-counting proxy (bench); faults: the emulator's throttling proxy; none")
    parser.add_argument("--quotas", choices=QUOTAS, default="lifted",
                        help="lifted: every account/stage quota lifted (bench); stage: only the stage throttle")
    parser.add_argument("--concurrency", type=int, default=64, help="handler threads (per function worker)")
    parser.add_argument("--function-workers", type=int, default=1,
                        help="function worker processes, as `make run` (0: handlers in the gateway's threads)")
    parser.add_argument("--sandboxes", choices=SANDBOX_MODES, default="on-demand",
                        help="on-demand (as `make run`): a function's sandbox starts on its first invocation; "
                             "always: every function's sandbox from the start")
    parser.add_argument("--handler-log-level", default="WARNING", help="LOG_LEVEL of the functions")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra handler env")
    parser.add_argument("--log-invocations", choices=("off", "text", "json"), default="off",
                        help="one log line per invocation, as `make run` (default off: a line per message "
                             "would measure the terminal)")
    args = parser.parse_args(argv)
    configure_logging()
    raise_nofile()
    return int(loops.run(serve(args)))  # uvloop when installed, as `make run`


if __name__ == "__main__":
    raise SystemExit(main())
