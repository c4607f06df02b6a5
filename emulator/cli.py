"""``python -m emulator [run|token] ...``: the local stack's command line (``make run`` calls ``run``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from emulator.config import (
    AUTH_MODES,
    DEV_JWT_SECRET,
    LOCAL_OIDC_AUDIENCE,
    SANDBOX_MODES,
    TOKEN_SOURCES,
    Quotas,
    StackConfig,
)
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
    g.add_argument("--concurrency", type=int, default=64, help="handler threads per process (default 64)")
    g.add_argument("--function-workers", type=int, default=1, metavar="N",
                   help="run each function in sandbox processes of its own (up to N per function while busy), "
                        "apart from the gateway and each other as on AWS, each with exactly its Terraform "
                        "environment; a timed-out invocation's sandbox is recycled "
                        "(default 1; 0 runs them all in the gateway's own threads)")
    g.add_argument("--sandboxes", choices=SANDBOX_MODES, default="on-demand",
                   help="on-demand: a function's sandbox starts on its first invocation, as Lambda starts an execution "
                        "environment (each is loaded once at start to report import errors); always: every "
                        "function's sandbox runs from the start (no cold starts) (default on-demand)")
    g.add_argument("--handler-log-level", default="INFO", help="LOG_LEVEL given to the functions")
    g.add_argument("--no-dynamodb-proxy", action="store_true",
                   help="give handlers DynamoDB directly (disables DynamoDB throttling injection)")
    g = p.add_argument_group("authorizer")
    g.add_argument("--auth", choices=AUTH_MODES, default="hs256",
                   help="hs256: tokens signed with --jwt-secret (default); oidc: an OpenID Connect provider's "
                        "JWKS (the built-in one under /_local/oidc unless --oidc-issuer is given)")
    g.add_argument("--jwt-secret", default=DEV_JWT_SECRET, help="HS256 secret of the authorizer (local dev secret)")
    g.add_argument("--oidc-issuer", default=None, metavar="URL",
                   help="oidc: trust this issuer instead of the built-in one, e.g. a Cognito user pool "
                        "https://cognito-idp.<region>.amazonaws.com/<pool id>")
    g.add_argument("--oidc-audience", default=LOCAL_OIDC_AUDIENCE, metavar="CLIENT_ID",
                   help=f"oidc: accepted audience / app client id (default {LOCAL_OIDC_AUDIENCE})")
    g.add_argument("--oidc-user-claim", default=None, metavar="CLAIM", help="oidc: user id claim (default sub)")
    g.add_argument("--oidc-token-use", default=None, metavar="id,access",
                   help="oidc: accepted Cognito token_use values (default: not checked)")
    g.add_argument("--token-sources", default=",".join(TOKEN_SOURCES), metavar="query,subprotocol",
                   help="where $connect takes the token from (default both; one source also becomes the "
                        "authorizer's identity source)")
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
    g.add_argument("--max-frame-bytes", type=int, default=d.max_frame_bytes,
                   help="largest single frame; a message may span several (default 32768)")
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
    token = sub.add_parser("token", help="mint a test token (for ?token= or Sec-WebSocket-Protocol)")
    token.add_argument("--user", required=True, help="user id (the token's sub)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token.add_argument("--jwt-secret", default=DEV_JWT_SECRET)
    token.add_argument("--oidc", action="store_true",
                       help="an ID token of the running stack's built-in OIDC issuer (stack started with --auth oidc)")
    token.add_argument("--token-use", choices=("id", "access"), default="id", help="--oidc: which token (default id)")
    token.add_argument("--stack", default="http://127.0.0.1:8080", help="--oidc: the running stack's base URL")
    oidc = sub.add_parser("oidc", help="the running stack's built-in OIDC issuer: rotate or retire signing keys")
    oidc.add_argument("action", choices=("keys", "rotate", "retire"))
    oidc.add_argument("kid", nargs="?", help="retire: the key id to stop publishing")
    oidc.add_argument("--stack", default="http://127.0.0.1:8080", help="the running stack's base URL")
    return parser


def config_from_args(args: argparse.Namespace) -> StackConfig:
    quotas = Quotas(
        max_message_bytes=args.max_message_bytes, max_frame_bytes=args.max_frame_bytes, idle_timeout_s=args.idle_timeout,
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
    extra_env = {}
    if args.oidc_user_claim:
        extra_env["OIDC_USER_CLAIM"] = args.oidc_user_claim
    if args.oidc_token_use:
        extra_env["OIDC_TOKEN_USE"] = args.oidc_token_use
    return StackConfig(
        auth_mode=args.auth, oidc_issuer=args.oidc_issuer, oidc_audience=args.oidc_audience,
        token_sources=tuple(s.strip() for s in args.token_sources.split(",") if s.strip()), extra_env=extra_env,
        host=args.host, port=args.port, stage=args.stage, region=args.region, jwt_secret=args.jwt_secret,
        handler_log_level=args.handler_log_level, dynamodb=args.dynamodb, table_prefix=args.table_prefix,
        quotas=quotas, faults=faults, dynamodb_fault_proxy=not args.no_dynamodb_proxy,
        concurrency=args.concurrency, log_invocations=not args.quiet, log_format=args.log_format,
        function_workers=args.function_workers, sandboxes_on_demand=args.sandboxes == "on-demand",
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


def _call_stack(base_url: str, method: str, path: str, body: dict | None) -> dict | None:
    """One JSON call to the running stack's local-only API; None (after saying why) on failure."""
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method,  # noqa: S310 - loopback admin API
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        print(f"emulator: {method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        print(f"emulator: cannot reach the stack at {base_url} ({exc}); start it with `make run RUN_ARGS=\"--auth oidc\"`",
              file=sys.stderr)
    return None


def configure_logging() -> None:
    """The stack process's own log lines (the handlers log JSON to stdout themselves)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "pynamodb", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in ("run", "token", "oidc", "-h", "--help"):
        argv.insert(0, "run")
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "token" and args.oidc:
        answer = _call_stack(args.stack, "POST", "/_local/oidc/token", {"user": args.user, "ttl": args.ttl})
        if answer is None:
            return 1
        print(answer["id_token" if args.token_use == "id" else "access_token"])
        return 0
    if args.command == "token":
        from emulator.tokens import mint_token

        print(mint_token(args.user, args.jwt_secret, ttl_seconds=args.ttl))
        return 0
    if args.command == "oidc":
        if args.action == "retire" and not args.kid:
            parser.error("oidc retire needs the kid to retire (see: oidc keys)")
        method, path = {"keys": ("GET", "/_local/oidc/jwks.json"), "rotate": ("POST", "/_local/oidc/rotate"),
                        "retire": ("DELETE", f"/_local/oidc/keys/{args.kid}")}[args.action]
        answer = _call_stack(args.stack, method, path, None)
        if answer is None:
            return 1
        print(json.dumps(answer, indent=2))
        return 0
    try:
        from emulator import loops

        return int(loops.run(_run(config_from_args(args))))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1

