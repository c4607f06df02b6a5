"""REQUEST authorizer logic: verify an HS256 JWT, build the IAM policy and context.

- Missing token -> raise Exception("Unauthorized") (API Gateway's convention: HTTP 401).
- Forged, expired, wrong algorithm, missing ``sub``/``exp`` -> a Deny policy (HTTP 403).
- Only HS256 is accepted (no ``none``, no RS/HS confusion). The secret comes from JWT_SECRET
  (local) or the SSM SecureString named by JWT_SECRET_PARAMETER (AWS), read once per container.
The token is never logged and never copied into the context.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

import jwt

from chat.clients import on_reset, ssm_client
from chat.config import Settings, get_settings
from chat.errors import ConfigurationError, InvalidToken
from chat.protocol import USER_ID

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway maps to 401


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


def mint_token(user_id: str, secret: str, ttl_seconds: int = 3600, **claims: Any) -> str:
    """A signed token for ``user_id`` (local development, tests, the emulator's demo page)."""
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + ttl_seconds, **claims}, secret,
                      algorithm=ALGORITHM)


def verify(token: str, secret: str, settings: Settings) -> str:
    """The token's user id, or InvalidToken saying why (never echoing the token)."""
    options = {"require": ["exp", "sub"]}
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], leeway=LEEWAY_SECONDS, options=options,
                            issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    except jwt.ExpiredSignatureError as e:
        raise InvalidToken("token expired") from e
    except jwt.InvalidTokenError as e:
        raise InvalidToken(f"token rejected: {type(e).__name__}") from e
    user = claims.get("sub")
    if not isinstance(user, str) or not USER_ID.match(user):
        raise InvalidToken("token subject is not a valid user id")
    return user


def token_from(event: Mapping[str, Any]) -> str | None:
    params = event.get("queryStringParameters") or {}
    token = params.get("token") if isinstance(params, Mapping) else None
    return token if isinstance(token, str) and token else None


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
