"""The authorizer's ``oidc`` mode: verify RS/PS/ES-signed ID or access tokens of an OpenID Connect
provider (Cognito user pools, Auth0, Okta, Keycloak, ...) against its published key set (JWKS).

- Discovery: ``<issuer>/.well-known/openid-configuration`` names the ``jwks_uri`` (its ``issuer``
  must be the configured one); ``OIDC_JWKS_URI`` skips discovery.
- The key set is cached per container (warm invocations reuse it), re-fetched when older than
  ``OIDC_JWKS_CACHE_SECONDS`` and when a token names an unknown ``kid`` — but never more than once
  per ``OIDC_JWKS_MIN_REFRESH_SECONDS``: a flood of made-up kids costs at most one fetch per
  interval per container. Concurrent callers share one fetch (single flight). A failed re-fetch
  keeps the last good key set.
- A key is used only with the algorithms its type allows (RSA: RS*/PS*; EC: the ES* of its curve;
  the JWK's own ``alg`` when it names one), intersected with ``OIDC_ALGORITHMS``. ``none``, HMAC
  (HS256 "signed" with the public key: algorithm confusion) and symmetric (``oct``) keys are
  never accepted. Keys embedded in the token (``jwk``/``jku``/``x5u`` headers) are ignored.
- Claims: ``iss`` exactly the issuer, ``exp`` required, ``nbf``/``iat`` honoured, with
  chat.config.TOKEN_LEEWAY_SECONDS of skew; ``aud`` must name a configured audience (Cognito access tokens carry
  none: their ``client_id`` must); ``token_use`` must be an allowed one when OIDC_TOKEN_USE is set.
- The user id comes from ``OIDC_USER_CLAIM`` (``sub`` by default) and must be a valid user id.
- An identity provider that is down or slow makes :class:`IdentityProviderUnavailable` within the
  time budget: the authorizer fails closed (HTTP 500 at the gateway) rather than letting anyone in.

Signature checks are PyJWT's (with ``cryptography``); nothing here does cryptography by hand.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from chat.clients import on_reset
from chat.config import TOKEN_LEEWAY_SECONDS, Settings, is_loopback_host
from chat.errors import ConfigurationError, IdentityProviderUnavailable, InvalidToken
from chat.logs import get_logger, log_event
from chat.protocol import USER_ID

MAX_TOKEN_CHARS = 16 * 1024
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_KEYS = 100
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Algorithms each key type can verify (RFC 7518 section 3); an EC key only its curve's one.
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

log = get_logger("chat.oidc")
Fetch = Callable[[str, float], Any]


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Any  # a cryptography public key object (PyJWK.key)
    algorithms: frozenset[str]


class OidcVerifier:
    """One issuer's verifier; keep one per container (``verifier(settings)``)."""

    def __init__(self, settings: Settings, *, fetch: Fetch | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not settings.oidc_issuer or not settings.oidc_audiences:
            raise ConfigurationError("AUTH_MODE=oidc needs OIDC_ISSUER and OIDC_AUDIENCE")
        if not jwt.algorithms.has_crypto:
            raise ConfigurationError("AUTH_MODE=oidc needs the `cryptography` package: attach the crypto layer "
                                     "(build/crypto-layer-<architecture>.zip, Terraform auth_mode = \"oidc\") to the authorizer")
        self.issuer = settings.oidc_issuer
        self.audiences = frozenset(settings.oidc_audiences)
        self.user_claim = settings.oidc_user_claim
        self.token_use = frozenset(settings.oidc_token_use)
        self.algorithms = frozenset(settings.oidc_algorithms)
        self.cache_seconds = settings.oidc_jwks_cache_seconds
        self.min_refresh_seconds = settings.oidc_jwks_min_refresh_seconds
        self._configured_jwks_uri = settings.oidc_jwks_uri
        self._jwks_uri = settings.oidc_jwks_uri
        self._fetch = fetch or fetch_json
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] | None = None
        self._loaded_at = 0.0
        self._last_attempt: float | None = None
        self._last_error: str | None = None
        self.fetches = 0  # HTTP GETs made (discovery + JWKS): observable by tests and logs

    # --- verification ----------------------------------------------------------------------
    def prefetch(self, budget_s: float) -> bool:
        """Loads the key set ahead of the first token (Lambda's init phase, chat.init_phase); True when
        it is loaded. A failure does not count against the refresh interval: the first token tries again."""
        deadline = self._clock() + budget_s
        with self._lock:
            if self._keys is not None:
                return True
            attempt = self._last_attempt
            if not self._refresh(deadline, "init phase"):
                self._last_attempt = attempt
                return False
            return True

    def verify(self, token: str, budget_s: float) -> str:
        """The token's user id, or InvalidToken (deny) / IdentityProviderUnavailable (fail closed)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise InvalidToken(f"token rejected: {type(e).__name__}") from e
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken(f"algorithm {str(alg)[:16]!r} is not accepted")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise InvalidToken("token has no usable kid")
        key = self._signing_key(kid, budget_s)
        if alg not in key.algorithms:
            raise InvalidToken(f"algorithm {alg} does not match key {kid}")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], issuer=self.issuer, leeway=TOKEN_LEEWAY_SECONDS,
                                options={"require": ["exp", "iss"], "verify_aud": False})
        except jwt.ExpiredSignatureError as e:
            raise InvalidToken("token expired", reason="expired_token") from e
        except jwt.InvalidTokenError as e:
            raise InvalidToken(f"token rejected: {type(e).__name__}") from e
        self._check_audience(claims)
        if self.token_use and claims.get("token_use") not in self.token_use:
            raise InvalidToken("token_use is not accepted")
        user = claims.get(self.user_claim)
        if not isinstance(user, str) or not USER_ID.match(user):
            raise InvalidToken(f"claim {self.user_claim!r} is not a valid user id")
        return user

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        aud = claims.get("aud")
        if aud is not None:
            named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(isinstance(a, str) and a in self.audiences for a in named):
                raise InvalidToken("audience is not accepted")
            return
        # Cognito access tokens carry no aud; their client_id names the app client instead.
        if claims.get("client_id") not in self.audiences:
            raise InvalidToken("audience is not accepted")

    # --- keys --------------------------------------------------------------------------------
    def _signing_key(self, kid: str, budget_s: float) -> SigningKey:
        keys = self._keys
        if keys is not None and kid in keys and not self._stale():
            return keys[kid]  # the warm path: no lock, no I/O
        deadline = self._clock() + budget_s
        if not self._lock.acquire(timeout=max(0.0, budget_s)):
            raise IdentityProviderUnavailable("another fetch of the key set did not finish in time")
        try:  # single flight: whoever waited here finds the key set the first caller fetched
            if self._keys is None or self._stale():
                self._refresh(deadline, "expired" if self._keys is not None else "first use")
            if self._keys is None:
                raise IdentityProviderUnavailable(f"no key set: {self._last_error}")
            if kid in self._keys:
                return self._keys[kid]
            if not self._may_fetch():
                raise InvalidToken("unknown kid (the key set was fetched moments ago)")
            if not self._refresh(deadline, "unknown kid"):
                raise IdentityProviderUnavailable(f"unknown kid, and the key set is unreachable: {self._last_error}")
            if kid not in self._keys:
                raise InvalidToken("unknown kid")
            return self._keys[kid]
        finally:
            self._lock.release()

    def _stale(self) -> bool:
        return self._clock() - self._loaded_at >= self.cache_seconds

    def _may_fetch(self) -> bool:
        return self._last_attempt is None or self._clock() - self._last_attempt >= self.min_refresh_seconds

    def _refresh(self, deadline: float, reason: str) -> bool:
        """Fetches the key set (at most once per interval); False when it could not. A failure
        keeps the last good set."""
        if not self._may_fetch():
            return False
        now = self._clock()
        self._last_attempt = now
        try:
            jwks_uri = self._discover(deadline)
            document = self._get(jwks_uri, deadline)
            keys = parse_jwks(document, self.algorithms)
        except IdentityProviderUnavailable as e:
            self._last_error = str(e)
            if self._keys is None:
                log_event(log, logging.ERROR, "identity provider unreachable: failing closed", issuer=self.issuer,
                          reason=reason, error=str(e), fetches=self.fetches)
            else:
                log_event(log, logging.WARNING, "identity provider unreachable: keeping the last key set",
                          issuer=self.issuer, reason=reason, error=str(e), fetches=self.fetches)
            if not self._configured_jwks_uri:
                self._jwks_uri = None  # discover again next time: the jwks_uri may have moved
            return False
        self._keys, self._loaded_at, self._last_error = keys, now, None
        log_event(log, logging.INFO, "key set loaded", issuer=self.issuer, reason=reason, kids=sorted(keys),
                  fetches=self.fetches)
        return True

    def _discover(self, deadline: float) -> str:
        if self._jwks_uri:
            return self._jwks_uri
        document = self._get(self.issuer.rstrip("/") + DISCOVERY_PATH, deadline)
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise IdentityProviderUnavailable("discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not _acceptable_url(jwks_uri):
            raise IdentityProviderUnavailable("discovery document has no usable https jwks_uri")
        self._jwks_uri = jwks_uri
        return jwks_uri

    def _get(self, url: str, deadline: float) -> Any:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise IdentityProviderUnavailable("no time left to fetch the key set")
        self.fetches += 1
        return self._fetch(url, remaining)

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys or {})


def parse_jwks(document: Any, accepted: frozenset[str]) -> dict[str, SigningKey]:
    """kid -> usable signature key; keys that cannot be used safely are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IdentityProviderUnavailable("the JWKS document has no keys list")
    keys: dict[str, SigningKey] = {}
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        algorithms = _key_algorithms(jwk) & accepted
        if not algorithms:
            continue
        try:
            key = jwt.PyJWK(jwk).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as e:
            log_event(log, logging.WARNING, "unusable key in the key set", kid=jwk["kid"][:64], error=type(e).__name__)
            continue
        keys[jwk["kid"]] = SigningKey(jwk["kid"], key, frozenset(algorithms))
    return keys


def _key_algorithms(jwk: Mapping[str, Any]) -> set[str]:
    kty = jwk.get("kty")
    if kty == "RSA":
        allowed = set(RSA_ALGORITHMS)
    elif kty == "EC" and jwk.get("crv") in EC_ALGORITHMS:
        allowed = {EC_ALGORITHMS[jwk["crv"]]}
    else:
        return set()  # oct (a shared secret published as a "public" key), OKP, unknown: never
    named = jwk.get("alg")
    return allowed & {named} if isinstance(named, str) else allowed


# --- HTTP ----------------------------------------------------------------------------------------
def fetch_json(url: str, timeout_s: float) -> Any:
    """GET ``url`` as JSON, all of it (connect, TLS, headers, body) within ``timeout_s``.

    Socket timeouts bound each read, not the whole exchange (a server can trickle bytes), so the
    request runs on a helper thread and the caller stops waiting at the deadline, shutting the
    socket down under the helper so it ends too.
    """
    holder: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            holder["value"] = _get_json(url, timeout_s, holder)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            holder["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="oidc-fetch", daemon=True).start()
    if not done.wait(timeout_s):
        connection = holder.get("connection")
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise IdentityProviderUnavailable(f"{_shown(url)}: no complete answer within {timeout_s * 1000:.0f} ms")
    if "error" in holder:
        error = holder["error"]
        if isinstance(error, IdentityProviderUnavailable):
            raise error
        if isinstance(error, TimeoutError):  # a socket timeout of the helper, at the same deadline
            raise IdentityProviderUnavailable(f"{_shown(url)}: no complete answer within {timeout_s * 1000:.0f} ms")
        raise IdentityProviderUnavailable(f"{_shown(url)}: {type(error).__name__}: {error}") from error
    return holder["value"]


def _get_json(url: str, timeout_s: float, holder: dict[str, Any]) -> Any:
    if not _acceptable_url(url):
        raise IdentityProviderUnavailable(f"refusing to fetch {_shown(url)} (https only, http on loopback)")
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout_s, context=_tls_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    holder["connection"] = connection
    try:
        connection.request("GET", path, headers={"Accept": "application/json", "User-Agent": "wschat-authorizer"})
        response = connection.getresponse()
        if response.status != 200:
            raise IdentityProviderUnavailable(f"{_shown(url)} answered HTTP {response.status}")
        body = response.read(MAX_DOCUMENT_BYTES + 1)
    finally:
        connection.close()
    if len(body) > MAX_DOCUMENT_BYTES:
        raise IdentityProviderUnavailable(f"{_shown(url)}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError as e:
        raise IdentityProviderUnavailable(f"{_shown(url)}: not JSON") from e


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Verifies against the CA bundle botocore uses (certifi, else its own), as chat.signed_post does."""
    try:
        from botocore.httpsession import get_cert_path

        return ssl.create_default_context(cafile=get_cert_path(True))
    except ImportError:  # outside Lambda without botocore: the system store
        return ssl.create_default_context()


def _acceptable_url(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.hostname) and (parts.scheme == "https"
                                     or (parts.scheme == "http" and is_loopback_host(parts.hostname or "")))


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@functools.lru_cache(maxsize=4)
def verifier(settings: Settings) -> OidcVerifier:
    """This container's verifier for these settings (settings are frozen, so this is a cache key)."""
    return OidcVerifier(settings)


on_reset(verifier.cache_clear)  # a fresh key set per (emulated) container, as a new Lambda container has
