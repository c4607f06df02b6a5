"""Test tokens for local use: the same HS256 JWTs the authorizer verifies (chat.auth.mint_token)."""

from __future__ import annotations

import time
from typing import Any


def mint_token(user_id: str, secret: str, ttl_seconds: int = 3600, **claims: Any) -> str:
    try:
        from chat.auth import mint_token as chat_mint  # the layer's own minting: one source of truth
    except ImportError:
        chat_mint = None
    if chat_mint is not None:
        return str(chat_mint(user_id, secret, ttl_seconds=ttl_seconds, **claims))
    import jwt

    now = int(time.time())
    payload = {"sub": user_id, "iat": now, "exp": now + ttl_seconds, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")
