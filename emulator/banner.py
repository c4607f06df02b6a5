"""What ``make run`` prints once the stack is up: where everything is, and the stage's limits."""

from __future__ import annotations

from emulator import loops
from emulator.config import Quotas, StackConfig


def handler_placement(config: StackConfig) -> str:
    threads = f"{config.concurrency} threads"
    if not config.function_workers:
        return f"{threads} of this process"
    workers = config.function_workers
    when = "started by its first invocation" if config.sandboxes_on_demand else "running from the start"
    return f"a sandbox process per function, {when} (up to {workers} each when busy) x {threads}"


def client_hint(config: StackConfig, ws_url: str) -> str:
    ways = {"query": f"{ws_url}?token=<jwt>", "subprotocol": "Sec-WebSocket-Protocol: wschat, bearer.<jwt>"}
    first, *rest = [ways[source] for source in config.token_sources]
    if first.startswith("Sec-"):
        first = f"{ws_url}   with {first}"
    return first + "".join(f"   (or {other})" for other in rest)


def auth_line(config: StackConfig, oidc_issuer: str | None, local_issuer: bool) -> str:
    sources = "+".join(config.token_sources)
    if config.auth_mode == "hs256":
        return f"hs256 (local dev secret); token from {sources}"
    where = "built-in issuer" if local_issuer else "external issuer"
    return f"oidc, {where} {oidc_issuer} (audience {config.oidc_audience}); token from {sources}"


def banner(*, config: StackConfig, quotas: Quotas, stage: str, base_url: str, ws_url: str, management_url: str,
           lambda_url: str, demo_url: str, dynamodb: str, oidc_issuer: str | None = None,
           local_issuer: bool = False) -> str:
    q = quotas
    return "\n".join([
        "",
        "  Local stack is up (API Gateway WebSocket emulator; not AWS)",
        f"  WebSocket (clients):     {client_hint(config, ws_url)}",
        f"  Authorizer:              {auth_line(config, oidc_issuer, local_issuer)}",
        f"  Management endpoint:     {management_url}",
        f"      boto3.client('apigatewaymanagementapi', endpoint_url='{management_url}')",
        f"  Lambda Invoke endpoint:  {lambda_url}",
        f"  Demo chat page:          {demo_url}",
        f"  Metrics (EMF, live):     {base_url}/_local/metrics   (JSON: {base_url}/_local/metrics.json)",
        "  Test token:              python -m emulator token --user u_1"
        + (" --oidc" if local_issuer else "") + f"   (or GET {base_url}/_local/token?user=u_1)",
        f"  DynamoDB:                {dynamodb}",
        f"  Event loop:              {loops.name()}; handlers in {handler_placement(config)}",
        f"  Stage {stage!r}: throttle {q.throttling_rate_limit:g} rps / burst {q.throttling_burst_limit}, "
        f"idle {q.idle_timeout_s:g} s, max {q.max_connection_s:g} s, message {q.max_message_bytes} B "
        f"in frames of up to {q.max_frame_bytes} B",
        "  Ctrl-C stops everything.",
        "",
    ])
