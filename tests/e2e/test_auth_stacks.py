"""The authorizer through the gateway, on stacks configured per test: identity sources per enabled
token source (API Gateway ANDs identity sources), an identity provider that is down or hangs (fail
closed within the authorizer's timeout), and an external issuer as a Cognito user pool would be."""

from __future__ import annotations

import time

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from emulator.oidc_issuer import LocalIssuer
from manifest import load_manifest
from tests.e2e.conftest import REPO, make_stack, token_subprotocols
from tests.jwks_server import JwksServer, refusing_url

pytestmark = pytest.mark.e2e
MANIFEST = load_manifest(REPO)


async def status_of(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(url, **kwargs)
    return err.value.response.status_code


def authorizer_calls(stack) -> int:
    return sum(1 for i in stack.invocations if i.function == "authorizer")


# --- identity sources: one enabled source is checked by the gateway itself ------------------------
@pytest.mark.parametrize("enabled, sent, status, authorizer_called", [
    pytest.param(("query", "subprotocol"), "none", 401, True, id="both-enabled-none-sent-the-function-answers-401"),
    pytest.param(("subprotocol",), "query", 401, False, id="subprotocol-only-url-token-is-missing"),
    pytest.param(("subprotocol",), "subprotocol", 101, True, id="subprotocol-only-header-token"),
    pytest.param(("query",), "subprotocol", 401, False, id="query-only-header-token-is-missing"),
    pytest.param(("query",), "query", 101, True, id="query-only-url-token"),
])
async def test_identity_sources_follow_the_enabled_token_sources(dynamodb_endpoint, enabled, sent, status,
                                                                 authorizer_called):
    stack = make_stack(dynamodb_endpoint, token_sources=enabled)
    try:
        token = stack.mint_token("u_idsrc")
        url, kwargs = stack.ws_url, {}
        if sent == "query":
            url = f"{stack.ws_url}?token={token}"
        elif sent == "subprotocol":
            kwargs = {"subprotocols": token_subprotocols(token)}
        if status == 101:
            async with await websockets.connect(url, **kwargs):
                pass
        else:
            assert await status_of(url, **kwargs) == status
        # THEN with one source API Gateway answers 401 itself when it is missing (no invocation);
        # with both it cannot (identity sources are ANDed), so the function is invoked and says 401
        assert (authorizer_calls(stack) > 0) is authorizer_called
    finally:
        stack.stop()


# --- the identity provider is down or slow: fail closed within the authorizer's timeout -----------
async def test_an_unreachable_identity_provider_fails_closed_with_500(dynamodb_endpoint):
    with refusing_url() as url:
        stack = make_stack(dynamodb_endpoint, auth_mode="oidc", oidc_issuer=url)
        try:
            token = LocalIssuer(url, "wschat-local").mint("u_down")  # well-formed; nothing can check it
            assert await status_of(f"{stack.ws_url}?token={token}") == 500
            inv = await stack.wait_for_invocation(lambda i: i.function == "authorizer")
            assert inv.outcome == "error" and inv.extra["errorType"] == "IdentityProviderUnavailable"
        finally:
            stack.stop()


async def test_a_hanging_identity_provider_fails_closed_before_the_authorizer_times_out(dynamodb_endpoint):
    # GIVEN an issuer that accepts connections and never answers, and a 1 s fetch budget
    with JwksServer("wschat-local") as idp:
        idp.mode = "hang"
        stack = make_stack(dynamodb_endpoint, auth_mode="oidc", oidc_issuer=idp.url,
                           extra_env={"OIDC_HTTP_TIMEOUT_MS": "1000"})
        try:
            started = time.monotonic()
            assert await status_of(f"{stack.ws_url}?token={idp.issuer.mint('u_slow')}") == 500
            elapsed = time.monotonic() - started
            inv = await stack.wait_for_invocation(lambda i: i.function == "authorizer")
            # THEN the function itself failed closed (not a Lambda timeout) inside its 5 s timeout
            assert inv.outcome == "error" and inv.extra["errorType"] == "IdentityProviderUnavailable"
            assert "no complete answer within 1000 ms" in inv.extra["errorMessage"]
            assert elapsed < MANIFEST.functions[MANIFEST.authorizer.function].timeout
        finally:
            stack.stop()


async def test_an_external_issuer_is_used_as_configured(dynamodb_endpoint):
    # GIVEN the stack pointed at another provider (as at a Cognito user pool), with its client id
    with JwksServer("my-app-client") as idp:
        stack = make_stack(dynamodb_endpoint, auth_mode="oidc", oidc_issuer=idp.url, oidc_audience="my-app-client")
        try:
            # WHEN two users of that provider connect / THEN both get in on one fetch of its key set
            for user in ("u_ext_1", "u_ext_2"):
                async with await websockets.connect(stack.ws_url,
                                                    subprotocols=token_subprotocols(idp.issuer.mint(user))):
                    pass
            assert idp.jwks_fetches == 1
            assert stack.auth_info()["localIssuer"] is False
        finally:
            stack.stop()


async def test_a_flood_of_unknown_kids_through_the_gateway_costs_at_most_one_fetch_per_interval(dynamodb_endpoint):
    # GIVEN a stack trusting an external issuer that counts its requests, warmed by one real sign-in
    with JwksServer("wschat-local") as idp:
        stack = make_stack(dynamodb_endpoint, auth_mode="oidc", oidc_issuer=idp.url)
        try:
            started = time.monotonic()
            async with await websockets.connect(f"{stack.ws_url}?token={idp.issuer.mint('u_flood_ok')}"):
                pass
            assert idp.jwks_fetches == 1
            # WHEN 200 handshakes arrive with tokens naming made-up kids (signed by an attacker's key)
            attacker = LocalIssuer(idp.url, "wschat-local", "ES256")
            statuses = [await status_of(f"{stack.ws_url}?token=" + attacker.mint("mallory", headers={"kid": f"x-{i}"}))
                        for i in range(200)]
            # THEN every one is denied, and the JWKS was fetched at most once more per 10 s interval
            assert statuses == [403] * 200
            intervals_passed = int((time.monotonic() - started) // 10)  # OIDC_JWKS_MIN_REFRESH_SECONDS
            assert idp.jwks_fetches <= 1 + intervals_passed
            print(f"\nunknown-kid flood: 200 handshakes -> {idp.jwks_fetches} JWKS fetches in total")
        finally:
            stack.stop()
