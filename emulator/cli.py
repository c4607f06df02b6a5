"""``python -m emulator [run|token] ...``: the local stack's command line (``make run`` calls ``run``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from emulator.config import DEV_JWT_SECRET, Quotas, StackConfig
from emulator.faults import POST_ERROR_CODES, Faults


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; 0.0.0.0 exposes it)")
    g.add_argument("--port", type=int, default=8080, help="gateway port (0 = any free port; default 8080)")
    g.add_argument("--stage", default=None, help="stage name (default: terraform/variables.tf stage_name, else dev)")
    g.add_argument("--region", default="us-east-1")
    g = p.add_argument_group("backends")
    g.add_argument("--dynamodb", default="auto",
                   help="auto (DynamoDB Local if java exists, else moto), local, moto, or an endpoint URL")
    g.add_argument("--table-prefix", default=None, help="table name prefix (default <service>-<stage>-)")
    g.add_argument("--jwt-secret", default=DEV_JWT_SECRET, help="HS256 secret of the authorizer (local dev secret)")
    g.add_argument("--concurrency", type=int, default=64, help="handler threads per process (default 64)")
    g.add_argument("--function-workers", type=int, default=1, metavar="N",
                   help="run the functions in N worker processes, apart from the gateway as on AWS "
                        "(default 1; 0 runs them in the gateway's own threads)")
    g.add_argument("--handler-log-level", default="INFO", help="LOG_LEVEL given to the functions")
    g.add_argument("--no-dynamodb-proxy", action="store_true",
                   help="give handlers DynamoDB directly (disables DynamoDB throttling injection)")
    g = p.add_argument_group("quotas (AWS defaults)")
    d = Quotas()
    g.add_argument("--throttle-rate", type=float, default=None, help="stage rate limit rps (default: terraform)")
    g.add_argument("--throttle-burst", type=int, default=None, help="stage burst limit (default: terraform)")
    g.add_argument("--account-rate", type=float, default=d.account_rate_limit, help="@connections calls/s")
    g.add_argument("--account-burst", type=int, default=d.account_burst_limit)
    g.add_argument("--new-connections-per-second", type=float, default=d.new_connections_per_second)
    g.add_argument("--idle-timeout", type=float, default=d.idle_timeout_s, help="seconds (default 600)")
    g.add_argument("--max-connection-duration", type=float, default=d.max_connection_s, help="seconds (default 7200)")
    g.add_argument("--max-message-bytes", type=int, default=d.max_message_bytes, help="default 131072")
    g.add_argument("--integration-timeout", type=float, default=d.integration_timeout_s, help="seconds (default 29)")
    g.add_argument("--max-url-chars", type=int, default=d.max_url_chars)
    g = p.add_argument_group("fault injection (also at runtime: POST /_local/faults)")
    g.add_argument("--fault-post-error-rate", type=float, default=0.0, help="0..1 of @connections POSTs fail")
    g.add_argument("--fault-post-error-status", type=int, default=410, choices=sorted(POST_ERROR_CODES))
    g.add_argument("--fault-post-latency-ms", type=float, default=0.0, help="added to every @connections POST")
    g.add_argument("--fault-dynamodb-throttle-rate", type=float, default=0.0,
                   help="0..1 of DynamoDB data calls get ProvisionedThroughputExceededException")
    g.add_argument("--fault-lambda-error-rate", type=float, default=0.0, help="0..1 of invocations crash")
    g.add_argument("--fault-lambda-latency-ms", type=float, default=0.0, help="added to every invocation")
    g.add_argument("--fault-lambda-functions", default="", help="comma-separated functions for lambda faults")
    g.add_argument("--fault-seed", type=int, default=None)
    g = p.add_argument_group("output")
    g.add_argument("--quiet", action="store_true", help="no per-invocation log lines")
    g.add_argument("--log-format", choices=("text", "json"), default="text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local stack: API Gateway WebSocket + @connections emulator with embedded DynamoDB, "
                    "running the functions of manifest.json. See docs/local-stack.md.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="start the local stack (default command)")
    _add_run_flags(run)
    token = sub.add_parser("token", help="mint a test token for ?token=")
    token.add_argument("--user", required=True, help="user id (the token's sub)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token.add_argument("--jwt-secret", default=DEV_JWT_SECRET)
    return parser


def config_from_args(args: argparse.Namespace) -> StackConfig:
    quotas = Quotas(
        max_message_bytes=args.max_message_bytes, idle_timeout_s=args.idle_timeout,
        max_connection_s=args.max_connection_duration, integration_timeout_s=args.integration_timeout,
        max_url_chars=args.max_url_chars, new_connections_per_second=args.new_connections_per_second,
        throttling_rate_limit=args.throttle_rate, throttling_burst_limit=args.throttle_burst,
        account_rate_limit=args.account_rate, account_burst_limit=args.account_burst,
    )
    faults = Faults(
        post_error_rate=args.fault_post_error_rate, post_error_status=args.fault_post_error_status,
        post_latency_ms=args.fault_post_latency_ms, dynamodb_throttle_rate=args.fault_dynamodb_throttle_rate,
        lambda_error_rate=args.fault_lambda_error_rate, lambda_latency_ms=args.fault_lambda_latency_ms,
        lambda_functions=tuple(f for f in args.fault_lambda_functions.split(",") if f), seed=args.fault_seed,
    )
    return StackConfig(
        host=args.host, port=args.port, stage=args.stage, region=args.region, jwt_secret=args.jwt_secret,
        handler_log_level=args.handler_log_level, dynamodb=args.dynamodb, table_prefix=args.table_prefix,
        quotas=quotas, faults=faults, dynamodb_fault_proxy=not args.no_dynamodb_proxy,
        concurrency=args.concurrency, log_invocations=not args.quiet, log_format=args.log_format,
        function_workers=args.function_workers,
    )


async def _run(config: StackConfig) -> int:
    from emulator.stack import LocalStack

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stack = LocalStack(config)
    starting = asyncio.ensure_future(stack.start())
    done, _ = await asyncio.wait({starting, asyncio.ensure_future(stop.wait())},
                                 return_when=asyncio.FIRST_COMPLETED)
    if starting not in done:
        starting.cancel()
        await stack.stop()
        return 130
    starting.result()
    print(stack.banner(), file=sys.stderr, flush=True)
    await stop.wait()
    print("\nstopping local stack ...", file=sys.stderr, flush=True)
    await stack.stop()
    return 0


def configure_logging() -> None:
    """The stack process's own log lines (the handlers log JSON to stdout themselves)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "pynamodb", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in ("run", "token", "-h", "--help"):
        argv.insert(0, "run")
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "token":
        from emulator.tokens import mint_token

        print(mint_token(args.user, args.jwt_secret, ttl_seconds=args.ttl))
        return 0
    try:
        from emulator import loops

        return int(loops.run(_run(config_from_args(args))))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1

