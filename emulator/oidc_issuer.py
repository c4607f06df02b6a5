"""A local OpenID Connect issuer for the local stack (``--auth oidc``) and the tests: a discovery
document, a JWKS, RS256 (or ES256) tokens shaped like Cognito's, and key rotation on demand.

It does what a real provider does on rotation: the next signing key is published in the JWKS
before it signs anything (so verifiers that cached the key set already know it), ``rotate()``
makes it the signing key and publishes a fresh next key, and the old key stays published — its
tokens stay valid — until ``retire(kid)`` removes it. Keys live in memory only.
Keys are made by ``cryptography`` and tokens signed by PyJWT: no hand-written cryptography.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ALGORITHMS = ("RS256", "ES256")
TOKEN_USES = ("id", "access")
DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks.json"


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    algorithm: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.algorithm.startswith("RS") else ECAlgorithm
        jwk = codec.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def new_key(algorithm: str = "RS256", kid: str | None = None) -> IssuerKey:
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    return IssuerKey(kid or f"local-{secrets.token_hex(6)}", algorithm, private)


class LocalIssuer:
    """``issuer`` is the URL tokens name in ``iss`` (set it once the serving port is known)."""

    def __init__(self, issuer: str = "", audience: str = "wschat-local", algorithm: str = "RS256") -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm
        self._lock = threading.Lock()
        self._signing = new_key(algorithm)
        self._next = new_key(algorithm)
        self._published: dict[str, IssuerKey] = {self._signing.kid: self._signing, self._next.kid: self._next}

    # --- documents ---------------------------------------------------------------------------
    def discovery(self, jwks_uri: str, token_endpoint: str | None = None) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["token", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.algorithm],
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": ["password"],
            "claims_supported": ["sub", "cognito:username", "username", "token_use", "client_id"],
        }
        if token_endpoint:
            document["token_endpoint"] = token_endpoint
        return document

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.public_jwk() for key in self._published.values()]}

    # --- keys --------------------------------------------------------------------------------
    @property
    def signing_kid(self) -> str:
        return self._signing.kid

    @property
    def kids(self) -> list[str]:
        with self._lock:
            return list(self._published)

    def rotate(self) -> str:
        """The pre-published next key starts signing; a new next key is published. Returns the new
        signing kid. The previous signing key stays published until :meth:`retire`."""
        upcoming = new_key(self.algorithm)
        with self._lock:
            self._signing, self._next = self._next, upcoming
            self._published[upcoming.kid] = upcoming
            return self._signing.kid

    def retire(self, kid: str) -> None:
        """Stops publishing ``kid`` (tokens it signed stop verifying once verifiers re-fetch)."""
        with self._lock:
            if kid not in self._published:
                raise KeyError(f"unknown kid {kid!r}")
            if kid in (self._signing.kid, self._next.kid):
                raise ValueError(f"{kid} is the signing or the next key: rotate first")
            del self._published[kid]

    # --- tokens ------------------------------------------------------------------------------
    def mint(self, user_id: str, *, ttl_seconds: int = 3600, token_use: str | None = "id",  # noqa: S107 - a claim value, not a password
             key: IssuerKey | None = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token shaped like a Cognito user pool's: ``id`` tokens carry ``aud`` and
        ``cognito:username``; ``access`` tokens carry ``client_id`` and ``username`` instead
        (``token_use=None``: an id-shaped token without the claim, as non-Cognito providers issue).
        A claim given as None is left out."""
        if token_use is not None and token_use not in TOKEN_USES:
            raise ValueError(f"token_use must be one of {', '.join(TOKEN_USES)}")
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.issuer, "sub": user_id, "token_use": token_use, "iat": now,
                                   "auth_time": now, "exp": now + ttl_seconds, "jti": str(uuid.uuid4())}
        if token_use != "access":
            payload.update({"aud": self.audience, "cognito:username": user_id})
        else:
            payload.update({"client_id": self.audience, "username": user_id, "scope": "openid"})
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        with self._lock:
            signer = key or self._signing
        return jwt.encode(payload, signer.private_key, algorithm=signer.algorithm,
                          headers={"kid": signer.kid, **(headers or {})})


class IssuerServer:
    """A :class:`LocalIssuer` served over HTTP on 127.0.0.1 (port from the OS) in a background thread:
    discovery at ``/.well-known/openid-configuration``, keys at ``/jwks.json``; every request path is
    recorded. ``mode`` injects faults: "up" (serve), "error" (HTTP 503), "hang" (accept the request,
    never answer until close()). The benchmarks and tests use it as a stand-in identity provider."""

    def __init__(self, audience: str = "wschat-test", algorithm: str = "RS256") -> None:
        self.mode = "up"
        self.paths: list[str] = []
        self.jwks_override: dict[str, Any] | None = None  # serve this instead of the issuer's JWKS
        self.discovery_override: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._released = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner._record(self.path)
                if owner.mode == "hang":
                    owner._released.wait()
                    return
                if owner.mode == "error":
                    self._send(503, {"message": "unavailable"})
                elif self.path == DISCOVERY:
                    self._send(200, owner.discovery_override or owner.issuer.discovery(owner.url + JWKS))
                elif self.path == JWKS:
                    self._send(200, owner.jwks_override or owner.issuer.jwks())
                else:
                    self._send(404, {"message": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = LocalIssuer(self.url, audience, algorithm)
        # a short poll interval: shutdown() waits for one poll, and every test closes a server
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="jwks-server", daemon=True)
        self._thread.start()

    def _record(self, path: str) -> None:
        with self._lock:
            self.paths.append(path)

    @property
    def jwks_fetches(self) -> int:
        with self._lock:
            return self.paths.count(JWKS)

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.paths)

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> IssuerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
