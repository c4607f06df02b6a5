"""The local stack in its own process, as the benchmarks run it (``python -m bench.stack_server``).

Starts the embedded DynamoDB, the counting proxy (:mod:`bench.ddb_counter`) in front of it, and
a :class:`emulator.LocalStack` on a free port whose handlers talk to DynamoDB through that proxy.
Prints one JSON line with the URLs on stdout, then runs until stdin closes or SIGTERM.

Settings that differ from ``make run`` (all documented in docs/benchmarks.md):
- the stage throttle and new-connections quota are lifted (the benches measure the emulator's
  capacity, not AWS's account quotas), idle timeout 30 min (a full run holds idle clients);
- ``RATE_LIMIT_PER_MINUTE=1000000`` (one sender broadcasts many times), LOG_LEVEL=WARNING and no
  per-invocation log lines (a log line per message would measure the terminal);
- the emulator's own DynamoDB fault proxy is replaced by the counting proxy (one hop either way).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys

from bench.ddb_counter import STATS_PATH, CountingProxy
from emulator import LocalStack, Quotas, StackConfig, loops
from emulator.config import REPO_ROOT
from emulator.dynamodb import EmbeddedDynamoDB

LIFTED = 1_000_000.0
# A limit no bench reaches, rather than 0 (disabled): every broadcast then runs the production
# code path (one conditional UpdateItem per message). (0 also allowed one message a minute until
# chat.registry.consume_send_quota was fixed during issue 6.)
BENCH_ENV = {"RATE_LIMIT_PER_MINUTE": "1000000"}


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (10k sockets need it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def bench_config(dynamodb: str, concurrency: int, extra_env: dict[str, str], function_workers: int = 1) -> StackConfig:
    quotas = Quotas(throttling_rate_limit=LIFTED, throttling_burst_limit=int(LIFTED),
                    new_connections_per_second=LIFTED, idle_timeout_s=1800.0)
    return StackConfig(port=0, dynamodb=dynamodb, dynamodb_fault_proxy=False, quotas=quotas,
                       log_invocations=False, handler_log_level="WARNING", concurrency=concurrency,
                       function_workers=function_workers, extra_env={**BENCH_ENV, **extra_env})


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
    upstream = await db.start()
    proxy = CountingProxy(upstream)
    try:
        endpoint = await loop.run_in_executor(None, proxy.start)
        extra = dict(kv.split("=", 1) for kv in args.env)
        async with LocalStack(bench_config(endpoint, args.concurrency, extra, args.function_workers)) as stack:
            info = {"pid": os.getpid(), "ws_url": stack.ws_url, "base_url": stack.base_url,
                    "management_url": stack.management_url, "stage": stack.stage,
                    "dynamodb_endpoint": endpoint, "dynamodb_backend": db.backend,
                    "stats_url": endpoint + STATS_PATH, "tables": {
                        k: v for k, v in stack.handler_env.items() if k.endswith("_TABLE")},
                    "region": stack.config.region, "nofile": raise_nofile(),
                    "handler_env": stack.handler_env,
                    "worker_pids": stack.runtime.worker_pids() if stack.runtime else []}
            print(json.dumps(info), flush=True)
            await stop.wait()
    finally:
        watcher.cancel()
        await loop.run_in_executor(None, proxy.stop)
        await db.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_server", description=__doc__.split("\n")[0])
    parser.add_argument("--dynamodb", default="auto", help="auto | local | moto")
    parser.add_argument("--concurrency", type=int, default=64, help="handler threads (Lambda concurrency)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra handler env")
    parser.add_argument("--function-workers", type=int, default=1,
                        help="function worker processes, as `make run` (0: handlers in the gateway's threads)")
    args = parser.parse_args(argv)
    raise_nofile()
    return int(loops.run(serve(args)))  # uvloop when installed, as `make run`


if __name__ == "__main__":
    raise SystemExit(main())
