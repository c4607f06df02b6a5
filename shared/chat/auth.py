"""REQUEST authorizer logic: find the token, verify it, build the IAM policy and context.

- The token comes from ``?token=`` or from the ``Sec-WebSocket-Protocol`` header (``wschat,
  bearer.<jwt>``: what browsers can send), as TOKEN_SOURCES allows. None -> raise
  Exception("Unauthorized") (API Gateway's convention: HTTP 401); both at once -> Deny.
- AUTH_MODE=hs256: only HS256 with the shared secret (no ``none``, no RS/HS confusion); the secret
  comes from JWT_SECRET (local) or the SSM SecureString named by JWT_SECRET_PARAMETER (AWS), read
  once per container. AUTH_MODE=oidc: an identity provider's JWKS (chat.oidc, imported only then).
- Forged, expired, wrong algorithm/issuer/audience, missing claims -> a Deny policy (HTTP 403).
Either way the context is ``{"userId": <user>}``. The token is never logged and never copied into
the context.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

import jwt

from chat.clients import on_reset, ssm_client
from chat.config import TOKEN_LEEWAY_SECONDS, Settings, get_settings
from chat.errors import ConfigurationError, IdentityProviderUnavailable, InvalidToken
from chat.events import offered_subprotocols
from chat.protocol import TOKEN_QUERY_PARAMETER, TOKEN_SOURCES, TOKEN_SUBPROTOCOL_PREFIX, USER_ID

ALGORITHM = "HS256"
UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway maps to 401
OIDC_TIME_MARGIN_MS = 500  # what the authorizer keeps for itself after an identity provider fetch


@functools.cache
def jwt_secret() -> str:
    settings = get_settings()
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.jwt_secret_parameter:
        response = ssm_client(settings.require_region()).get_parameter(
            Name=settings.jwt_secret_parameter, WithDecryption=True)
        return response["Parameter"]["Value"]
    raise ConfigurationError("set JWT_SECRET_PARAMETER (or JWT_SECRET locally) for the authorizer")


on_reset(jwt_secret.cache_clear)


def load_key_material(settings: Settings, budget_s: float) -> None:
    """Lambda's init phase (chat.init_phase): the HS256 secret, or in oidc mode the identity
    provider's key set (within ``budget_s``), loaded before the first token needs it."""
    if settings.auth_mode == "oidc":
        from chat import oidc

        oidc.verifier(settings).prefetch(budget_s)
        return
    jwt_secret()


def mint_token(user_id: str, secret: str, ttl_seconds: int = 3600, **claims: Any) -> str:
    """A signed token for ``user_id`` (local development, tests, the emulator's demo page)."""
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + ttl_seconds, **claims}, secret,
                      algorithm=ALGORITHM)


def verify(token: str, secret: str, settings: Settings) -> str:
    """The token's user id, or InvalidToken saying why (never echoing the token)."""
    options = {"require": ["exp", "sub"]}
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], leeway=TOKEN_LEEWAY_SECONDS, options=options,
                            issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    except jwt.ExpiredSignatureError as e:
        raise InvalidToken("token expired", reason="expired_token") from e
    except jwt.InvalidTokenError as e:
        raise InvalidToken(f"token rejected: {type(e).__name__}") from e
    user = claims.get("sub")
    if not isinstance(user, str) or not USER_ID.match(user):
        raise InvalidToken("token subject is not a valid user id")
    return user


def authenticate(token: str, settings: Settings, remaining_ms: int | None = None) -> str:
    """The user id the token vouches for, in the configured AUTH_MODE.

    Raises InvalidToken (deny) or, in oidc mode, IdentityProviderUnavailable (fail closed) when the
    key set cannot be fetched within the time this invocation has left.
    """
    if settings.auth_mode != "oidc":
        return verify(token, jwt_secret(), settings)
    from chat import oidc  # only oidc mode pays for it (and for cryptography's keys)

    budget_ms = settings.oidc_http_timeout_ms
    if remaining_ms is not None:
        budget_ms = min(budget_ms, remaining_ms - OIDC_TIME_MARGIN_MS)
    if budget_ms <= 0:
        raise IdentityProviderUnavailable("no time left in this invocation to fetch the key set")
    return oidc.verifier(settings).verify(token, budget_ms / 1000)


def token_from(event: Mapping[str, Any], sources: tuple[str, ...] = TOKEN_SOURCES) -> str | None:
    """The token from the enabled sources; None when absent (401). Two tokens -> InvalidToken."""
    found = []
    if "query" in sources:
        params = event.get("queryStringParameters") or {}
        token = params.get(TOKEN_QUERY_PARAMETER) if isinstance(params, Mapping) else None
        if isinstance(token, str) and token:
            found.append(token)
    if "subprotocol" in sources:
        found += [p.removeprefix(TOKEN_SUBPROTOCOL_PREFIX) for p in offered_subprotocols(event)
                  if p.startswith(TOKEN_SUBPROTOCOL_PREFIX) and len(p) > len(TOKEN_SUBPROTOCOL_PREFIX)]
    if len(found) > 1:
        raise InvalidToken("more than one token: send it either in ?token= or in Sec-WebSocket-Protocol",
                           reason="two_tokens")
    return found[0] if found else None


def policy(principal: str, effect: str, method_arn: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
    }
    if context:
        result["context"] = context
    return result
