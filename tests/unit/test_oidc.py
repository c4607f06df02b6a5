"""chat.oidc against a real JWKS served over local HTTP: claims, algorithms, attacks, rotation, the
unknown-kid flood (fetches counted at the server) and an identity provider that is down or slow."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from chat.config import Settings
from chat.errors import ConfigurationError, IdentityProviderUnavailable, InvalidToken
from chat.oidc import OidcVerifier
from emulator.oidc_issuer import new_key
from tests.jwks_server import JwksServer, refusing_url

from .conftest import ENV

AUDIENCE = "wschat-test"
BUDGET = 2.0


class FakeClock:
    """The verifier's monotonic clock, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def idp():
    with JwksServer(AUDIENCE) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def settings_for(issuer: str, **env: str) -> Settings:
    return Settings.from_env({**ENV, "AUTH_MODE": "oidc", "OIDC_ISSUER": issuer, "OIDC_AUDIENCE": AUDIENCE, **env})


def verifier_for(idp: JwksServer, clock: FakeClock, **env: str) -> OidcVerifier:
    return OidcVerifier(settings_for(idp.url, **env), clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed_hs256(payload: dict, secret: bytes, header: dict) -> str:
    """What an attacker sends for algorithm confusion: HS256 keyed with the provider's public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


# --- what is accepted ---------------------------------------------------------------------------
def test_a_valid_id_token_gives_its_subject_and_the_key_set_is_cached(idp, clock):
    verifier = verifier_for(idp, clock)
    assert verifier.verify(idp.issuer.mint("u_oidc_1"), BUDGET) == "u_oidc_1"
    assert verifier.verify(idp.issuer.mint("u_oidc_2"), BUDGET) == "u_oidc_2"
    assert idp.paths == ["/.well-known/openid-configuration", "/jwks.json"]  # discovery + JWKS, once


def test_an_es256_key_verifies_es256_tokens():
    with JwksServer(AUDIENCE, algorithm="ES256") as idp:
        verifier = verifier_for(idp, FakeClock())
        assert verifier.verify(idp.issuer.mint("u_ec"), BUDGET) == "u_ec"


def test_a_cognito_access_token_is_matched_on_client_id_and_token_use(idp, clock):
    verifier = verifier_for(idp, clock, OIDC_TOKEN_USE="access", OIDC_USER_CLAIM="username")
    assert verifier.verify(idp.issuer.mint("u_acc", token_use="access"), BUDGET) == "u_acc"
    with pytest.raises(InvalidToken, match="token_use"):
        verifier.verify(idp.issuer.mint("u_acc", token_use="id"), BUDGET)
    with pytest.raises(InvalidToken, match="audience"):
        verifier.verify(idp.issuer.mint("u_acc", token_use="access", client_id="another-app"), BUDGET)


def test_the_user_id_claim_is_configurable(idp, clock):
    verifier = verifier_for(idp, clock, OIDC_USER_CLAIM="cognito:username")
    token = idp.issuer.mint("3f1c-uuid-sub", **{"cognito:username": "alice.smith"})
    assert verifier.verify(token, BUDGET) == "alice.smith"
    with pytest.raises(InvalidToken, match="not a valid user id"):
        verifier.verify(idp.issuer.mint("x", **{"cognito:username": "has space"}), BUDGET)
    with pytest.raises(InvalidToken, match="not a valid user id"):
        verifier.verify(idp.issuer.mint("x", **{"cognito:username": None}), BUDGET)


def test_an_audience_list_naming_ours_is_accepted(idp, clock):
    verifier = verifier_for(idp, clock)
    assert verifier.verify(idp.issuer.mint("u_1", aud=["other", AUDIENCE]), BUDGET) == "u_1"


def test_clock_skew_within_the_leeway_is_tolerated(idp, clock):
    verifier = verifier_for(idp, clock)
    now = int(time.time())
    assert verifier.verify(idp.issuer.mint("u_1", exp=now - 10), BUDGET) == "u_1"
    assert verifier.verify(idp.issuer.mint("u_1", nbf=now + 10), BUDGET) == "u_1"


# --- what is refused ----------------------------------------------------------------------------
NOW = object()  # stands for the time the test runs (not when it was collected)


@pytest.mark.parametrize("claims, reason", [
    pytest.param({"exp": (NOW, -120)}, "expired", id="expired"),
    pytest.param({"nbf": (NOW, 600)}, "ImmatureSignatureError", id="not-yet-valid"),
    pytest.param({"iat": (NOW, 600)}, "ImmatureSignatureError", id="issued-in-the-future"),
    pytest.param({"exp": None}, "MissingRequiredClaimError", id="no-exp"),
    pytest.param({"iss": "https://evil.example"}, "InvalidIssuerError", id="wrong-iss"),
    pytest.param({"iss": None}, "MissingRequiredClaimError", id="no-iss"),
    pytest.param({"aud": "another-app"}, "audience", id="wrong-aud"),
    pytest.param({"aud": None}, "audience", id="no-aud-no-client-id"),
])
def test_bad_claims_are_denied(idp, clock, claims, reason):
    now = int(time.time())
    claims = {k: now + v[1] if isinstance(v, tuple) and v[0] is NOW else v for k, v in claims.items()}
    with pytest.raises(InvalidToken, match=reason):
        verifier_for(idp, clock).verify(idp.issuer.mint("u_1", **claims), BUDGET)


def test_token_use_is_enforced_when_configured(idp, clock):
    verifier = verifier_for(idp, clock, OIDC_TOKEN_USE="id")
    with pytest.raises(InvalidToken, match="token_use"):
        verifier.verify(idp.issuer.mint("u_1", token_use=None), BUDGET)


def test_alg_none_is_denied_even_naming_a_published_kid(idp, clock):
    token = jwt.encode({"iss": idp.url, "aud": AUDIENCE, "sub": "u_1", "exp": int(time.time()) + 60}, None,
                       algorithm="none", headers={"kid": idp.issuer.signing_kid})
    with pytest.raises(InvalidToken, match="algorithm 'none'"):
        verifier_for(idp, clock).verify(token, BUDGET)


@pytest.mark.parametrize("encoding", ["pem", "der", "jwk-json"])
def test_hs256_keyed_with_the_public_key_is_denied(idp, clock, encoding):
    # GIVEN an attacker who signs HS256 with the provider's public key (algorithm confusion)
    public = jwt.PyJWK(next(k for k in idp.issuer.jwks()["keys"] if k["kid"] == idp.issuer.signing_kid)).key
    secret = {
        "pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk-json": json.dumps(idp.issuer.jwks()["keys"][0]).encode(),
    }[encoding]
    payload = {"iss": idp.url, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60}
    token = hand_signed_hs256(payload, secret, {"alg": "HS256", "typ": "JWT", "kid": idp.issuer.signing_kid})
    # WHEN verified / THEN denied before any signature check
    with pytest.raises(InvalidToken, match="algorithm 'HS256' is not accepted"):
        verifier_for(idp, clock).verify(token, BUDGET)


def test_a_symmetric_key_in_the_jwks_is_never_used(idp, clock):
    # GIVEN a JWKS that (wrongly) publishes an `oct` key, and a token HMAC-signed with it
    secret = b"s" * 32
    idp.jwks_override = {"keys": [{"kty": "oct", "kid": "shared", "k": b64(secret), "alg": "HS256"},
                                  *idp.issuer.jwks()["keys"]]}
    payload = {"iss": idp.url, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60}
    token = jwt.encode(payload, secret, algorithm="HS256", headers={"kid": "shared"})
    # WHEN even HS256 is (mis)configured as accepted / THEN the oct key is not in the verifier's key set
    verifier = verifier_for(idp, clock)
    verifier.verify(idp.issuer.mint("u_1"), BUDGET)
    assert "shared" not in verifier.kids
    with pytest.raises(InvalidToken):
        verifier.verify(token, BUDGET)


def test_an_algorithm_the_key_type_cannot_have_is_denied(idp, clock):
    # GIVEN an EC key published next to the RSA keys, and a token claiming RS256 under the EC kid
    ec_key = new_key("ES256", kid="ec-1")
    idp.jwks_override = {"keys": [*idp.issuer.jwks()["keys"], ec_key.public_jwk()]}
    rsa_signed = idp.issuer.mint("u_1", headers={"kid": "ec-1"})
    with pytest.raises(InvalidToken, match="does not match key ec-1"):
        verifier_for(idp, clock).verify(rsa_signed, BUDGET)


def test_a_key_embedded_in_the_token_header_is_ignored(idp, clock):
    # GIVEN an attacker's own key, offered in the `jwk` header under a published kid
    attacker = new_key("RS256", kid=idp.issuer.signing_kid)
    token = idp.issuer.mint("mallory", key=attacker, headers={"jwk": attacker.public_jwk(),
                                                              "jku": "https://evil.example/jwks"})
    with pytest.raises(InvalidToken, match="InvalidSignatureError"):
        verifier_for(idp, clock).verify(token, BUDGET)
    assert "/jwks" not in "".join(p for p in idp.paths if "evil" in p)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "", "x" * 20_000])
def test_malformed_tokens_are_denied(idp, clock, token):
    with pytest.raises(InvalidToken):
        verifier_for(idp, clock).verify(token, BUDGET)


def test_a_token_without_kid_is_denied(idp, clock):
    key = new_key("RS256")
    token = jwt.encode({"iss": idp.url, "aud": AUDIENCE, "sub": "u", "exp": int(time.time()) + 60},
                       key.private_key, algorithm="RS256")
    with pytest.raises(InvalidToken, match="no usable kid"):
        verifier_for(idp, clock).verify(token, BUDGET)


# --- rotation and the unknown-kid flood ----------------------------------------------------------
def test_rotation_picks_up_new_keys_and_keeps_old_ones_until_they_are_removed(idp, clock):
    verifier = verifier_for(idp, clock)
    old_token = idp.issuer.mint("u_old")
    assert verifier.verify(old_token, BUDGET) == "u_old"

    # WHEN the provider rotates to its pre-published next key / THEN no fetch is needed
    old_kid = idp.issuer.signing_kid
    idp.issuer.rotate()
    assert verifier.verify(idp.issuer.mint("u_new"), BUDGET) == "u_new"
    assert idp.jwks_fetches == 1

    # WHEN a key appears that was never published before (an emergency rotation)
    surprise = new_key("RS256", kid="surprise")
    idp.jwks_override = {"keys": [*idp.issuer.jwks()["keys"], surprise.public_jwk()]}
    clock.advance(10)  # the minimum interval since the last fetch
    # THEN the unknown kid triggers one re-fetch and is accepted; the old key still verifies
    assert verifier.verify(idp.issuer.mint("u_surprise", key=surprise), BUDGET) == "u_surprise"
    assert idp.jwks_fetches == 2
    assert verifier.verify(old_token, BUDGET) == "u_old"

    # WHEN the provider stops publishing the old key and the cached set expires
    idp.jwks_override = None
    idp.issuer.retire(old_kid)
    clock.advance(3600)
    # THEN tokens of the removed key are denied
    with pytest.raises(InvalidToken, match="unknown kid"):
        verifier.verify(old_token, BUDGET)
    assert idp.jwks_fetches == 3


def test_a_flood_of_unknown_kids_costs_one_fetch_per_interval(idp, clock):
    # GIVEN a warm verifier / WHEN 1,000 tokens name made-up kids within one interval, then 1,000 more
    verifier = verifier_for(idp, clock)
    verifier.verify(idp.issuer.mint("u_1"), BUDGET)
    attacker = new_key("ES256")  # cheap to sign with: the flood is about kids, not signatures
    denied = 0
    for round_ in range(2):
        for i in range(1000):
            token = idp.issuer.mint("mallory", key=attacker, headers={"kid": f"made-up-{round_}-{i}"})
            with pytest.raises(InvalidToken, match="unknown kid"):
                verifier.verify(token, BUDGET)
            denied += 1
        clock.advance(10)
    # THEN all are denied, and the JWKS was fetched once at start-up and once in the second interval
    assert denied == 2000
    assert idp.jwks_fetches == 2
    assert idp.requests == 3  # + the one discovery request


def test_concurrent_first_requests_share_one_fetch(idp, clock):
    verifier = verifier_for(idp, clock)
    tokens = [idp.issuer.mint(f"u_{i}") for i in range(32)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        users = list(pool.map(lambda t: verifier.verify(t, BUDGET), tokens))
    assert users == [f"u_{i}" for i in range(32)]
    assert idp.paths == ["/.well-known/openid-configuration", "/jwks.json"]


# --- the identity provider is down or slow: fail closed ------------------------------------------
def test_an_unreachable_provider_fails_closed(clock, caplog):
    with refusing_url() as url:
        verifier = OidcVerifier(settings_for(url), clock=clock)
        with pytest.raises(IdentityProviderUnavailable, match="ConnectionRefusedError"):
            verifier.verify("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.sig", BUDGET)


def test_a_provider_answering_errors_fails_closed_and_is_not_hammered(idp, clock):
    idp.mode = "error"
    verifier = verifier_for(idp, clock)
    token = idp.issuer.mint("u_1")
    for _ in range(50):
        with pytest.raises(IdentityProviderUnavailable, match="HTTP 503"):
            verifier.verify(token, BUDGET)
    assert idp.requests == 1  # one attempt per interval, not one per connection attempt


def test_a_provider_that_never_answers_fails_closed_within_the_budget(idp, clock):
    # GIVEN a provider that accepts the connection and then says nothing
    idp.mode = "hang"
    verifier = verifier_for(idp, clock)
    started = time.monotonic()
    # WHEN a token is verified with a 300 ms budget / THEN it fails closed, well inside the
    # authorizer's 5 s timeout, while the provider is still hanging
    with pytest.raises(IdentityProviderUnavailable, match="no complete answer within 300 ms"):
        verifier.verify(idp.issuer.mint("u_1"), 0.3)
    assert time.monotonic() - started < 5.0
    assert idp.requests == 1


def test_a_failed_refresh_keeps_the_last_good_key_set(idp, clock):
    verifier = verifier_for(idp, clock)
    token = idp.issuer.mint("u_1")
    assert verifier.verify(token, BUDGET) == "u_1"
    idp.mode = "error"
    clock.advance(3600)
    assert verifier.verify(token, BUDGET) == "u_1"  # the provider is down: the cached keys still work
    assert idp.paths[2:] == ["/jwks.json"]  # one failed attempt; none more within the interval
    assert verifier.verify(token, BUDGET) == "u_1" and idp.requests == 3


def test_a_discovery_document_of_another_issuer_is_refused(idp, clock):
    idp.discovery_override = idp.issuer.discovery(idp.url + "/jwks.json") | {"issuer": "https://evil.example"}
    with pytest.raises(IdentityProviderUnavailable, match="another issuer"):
        verifier_for(idp, clock).verify(idp.issuer.mint("u_1"), BUDGET)


def test_a_plain_http_jwks_uri_off_loopback_is_refused(idp, clock):
    idp.discovery_override = idp.issuer.discovery("http://keys.example.com/jwks.json")
    with pytest.raises(IdentityProviderUnavailable, match="no usable https jwks_uri"):
        verifier_for(idp, clock).verify(idp.issuer.mint("u_1"), BUDGET)


def test_an_explicit_jwks_uri_skips_discovery(idp, clock):
    verifier = verifier_for(idp, clock, OIDC_JWKS_URI=idp.url + "/jwks.json")
    assert verifier.verify(idp.issuer.mint("u_1"), BUDGET) == "u_1"
    assert idp.paths == ["/jwks.json"]


# --- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize("env, message", [
    ({"OIDC_ISSUER": ""}, "needs OIDC_ISSUER and OIDC_AUDIENCE"),
    ({"OIDC_AUDIENCE": ""}, "needs OIDC_ISSUER and OIDC_AUDIENCE"),
    ({"OIDC_ISSUER": "http://idp.example.com"}, "OIDC_ISSUER must be an https:// URL"),
    ({"OIDC_ALGORITHMS": "RS256,HS256"}, "OIDC_ALGORITHMS may list only"),
    ({"OIDC_ALGORITHMS": "none"}, "OIDC_ALGORITHMS may list only"),
    ({"OIDC_TOKEN_USE": "refresh"}, "OIDC_TOKEN_USE may list only"),
    ({"AUTH_MODE": "rs256"}, "AUTH_MODE must be one of"),
    ({"TOKEN_SOURCES": "cookie"}, "TOKEN_SOURCES may list only"),
    ({"OIDC_JWKS_MIN_REFRESH_SECONDS": "0"}, "OIDC_JWKS_MIN_REFRESH_SECONDS must be between"),
])
def test_bad_oidc_configuration_names_the_variable(env, message):
    base = {**ENV, "AUTH_MODE": "oidc", "OIDC_ISSUER": "https://idp.example.com", "OIDC_AUDIENCE": AUDIENCE}
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**base, **env})


def test_the_verifier_is_shared_by_the_invocations_of_a_container(idp):
    from chat import oidc

    settings = settings_for(idp.url)
    assert oidc.verifier(settings) is oidc.verifier(settings_for(idp.url))
    assert oidc.verifier(settings) is not oidc.verifier(settings_for(idp.url, OIDC_USER_CLAIM="username"))


def test_fetch_count_stays_put_while_a_slow_fetch_is_in_flight(idp, clock):
    # GIVEN one request stuck on a hanging provider, WHEN others arrive meanwhile, THEN they wait for
    # that one fetch (single flight) instead of each opening their own
    idp.mode = "hang"
    verifier = verifier_for(idp, clock)
    token = idp.issuer.mint("u_1")
    errors: list[Exception] = []

    def attempt() -> None:
        try:
            verifier.verify(token, 0.5)
        except IdentityProviderUnavailable as e:
            errors.append(e)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 8
    assert idp.requests == 1


def test_oidc_mode_without_cryptography_says_to_attach_the_crypto_layer(idp, monkeypatch):
    # GIVEN an authorizer deployed in oidc mode without the crypto layer (PyJWT then has no RSA/EC)
    monkeypatch.setattr(jwt.algorithms, "has_crypto", False)
    # THEN it refuses to start verifying, naming the fix, instead of denying every token as "unknown kid"
    with pytest.raises(ConfigurationError, match="crypto-layer"):
        OidcVerifier(settings_for(idp.url))


# --- the init phase (chat.init_phase) -------------------------------------------------------------
def test_a_prefetched_key_set_serves_the_first_token_without_a_fetch(idp, clock):
    # GIVEN the key set loaded in Lambda's init phase
    verifier = verifier_for(idp, clock)
    assert verifier.prefetch(BUDGET) is True
    fetched = list(idp.paths)
    # WHEN the first token arrives / THEN it is verified with no request to the provider
    assert verifier.verify(idp.issuer.mint("u_1"), BUDGET) == "u_1"
    assert idp.paths == fetched


def test_a_failed_prefetch_leaves_the_first_token_free_to_fetch(idp, clock):
    # GIVEN a provider down during the init phase
    idp.mode = "error"
    verifier = verifier_for(idp, clock)
    assert verifier.prefetch(BUDGET) is False
    # WHEN it is back for the first token, within the refresh interval
    idp.mode = "up"
    # THEN that token fetches the key set (the failed prefetch did not use up the interval)
    assert verifier.verify(idp.issuer.mint("u_1"), BUDGET) == "u_1"
