"""REQUEST authorizer semantics on $connect: identity sources, IAM policy evaluation, context limits."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuthDecision:
    status: int  # 200 allow, 401 unauthorized, 403 deny, 500 authorizer failure
    context: dict[str, Any] | None = None  # becomes requestContext.authorizer on every route


def identity_present(sources: tuple[str, ...], query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """API Gateway answers 401 without calling the authorizer when an identity source is missing."""
    for source in sources:
        if source.startswith("route.request.querystring."):
            if not query.get(source.removeprefix("route.request.querystring.")):
                return False
        elif source.startswith("route.request.header."):
            if not headers.get(source.removeprefix("route.request.header.")):
                return False
    return True


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(patterns: list[Any], value: str) -> bool:
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value, p.replace("?", "[?]")) for p in patterns)


def policy_allows(policy: Any, method_arn: str) -> bool:
    """Explicit Deny wins, then an Allow must match ``execute-api:Invoke`` on the method ARN."""
    if not isinstance(policy, dict):
        return False
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, dict):
            continue
        actions = _as_list(statement.get("Action"))
        if not _matches(actions, "execute-api:Invoke"):
            continue
        if not _matches(_as_list(statement.get("Resource")), method_arn):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        if effect == "allow":
            allowed = True
    return allowed


def decide(result: Any, method_arn: str, max_context_bytes: int, integration_latency_ms: int) -> AuthDecision:
    """Turn the authorizer function's return value into the gateway's decision."""
    if not isinstance(result, dict) or "principalId" not in result:
        return AuthDecision(500)
    if not policy_allows(result.get("policyDocument"), method_arn):
        return AuthDecision(403)
    context = result.get("context") or {}
    if not isinstance(context, dict):
        return AuthDecision(500)
    if any(not isinstance(v, str | int | float | bool) for v in context.values()):
        return AuthDecision(500)  # API Gateway accepts only string/number/boolean context values
    if len(json.dumps(context).encode()) > max_context_bytes:
        return AuthDecision(500)
    authorizer = dict(context)
    authorizer["principalId"] = result["principalId"]
    authorizer["integrationLatency"] = integration_latency_ms
    return AuthDecision(200, authorizer)
