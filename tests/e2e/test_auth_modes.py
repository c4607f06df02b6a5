"""The authorizer through the gateway in oidc mode with the stack's built-in issuer: the token in
Sec-WebSocket-Protocol (the $connect response selects `wschat`, the 101 carries it), discovery,
the token endpoint, key rotation and the CLI. (Stacks of their own: test_auth_stacks.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid

import jwt
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from emulator.oidc_issuer import LocalIssuer
from tests.e2e.conftest import REPO, make_stack, recv_until, token_subprotocols

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def oidc_stack(dynamodb_endpoint):
    s = make_stack(dynamodb_endpoint, auth_mode="oidc")
    yield s
    s.stop()


async def status_of(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as err:
        await websockets.connect(url, **kwargs)
    return err.value.response.status_code


def local_api(stack, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(stack.base_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# --- the token in Sec-WebSocket-Protocol ---------------------------------------------------------
async def test_a_token_in_the_subprotocol_connects_and_the_handshake_selects_wschat(oidc_stack):
    # GIVEN a client that keeps the token out of the URL
    probe = uuid.uuid4().hex
    ws = await websockets.connect(f"{oidc_stack.ws_url}?probe={probe}",
                                  subprotocols=token_subprotocols(oidc_stack.mint_token("u_sp_alice")))
    async with ws:
        # THEN the 101 response selected exactly `wschat` (what $connect answered), never the token entry
        assert ws.subprotocol == "wschat"
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "wschat"
        await ws.send(json.dumps({"action": "ping"}))
        assert (await recv_until(ws, lambda f: f.get("type") == "pong"))["type"] == "pong"
    authorizer = await oidc_stack.wait_for_invocation(
        lambda i: i.function == "authorizer" and (i.event["queryStringParameters"] or {}).get("probe") == probe)
    # AND the URL the gateway saw carries no token: it came in the header
    assert "token" not in authorizer.event["queryStringParameters"]
    assert authorizer.event["headers"]["Sec-WebSocket-Protocol"].startswith("wschat, bearer.")
    connect = await oidc_stack.wait_for_invocation(
        lambda i: i.route == "$connect" and (i.event.get("queryStringParameters") or {}).get("probe") == probe)
    assert connect.result == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "wschat"}}
    assert connect.event["requestContext"]["authorizer"]["userId"] == "u_sp_alice"


async def test_offering_the_token_without_the_wschat_subprotocol_is_refused_by_connect(oidc_stack):
    token = oidc_stack.mint_token("u_sp_nosub")
    assert await status_of(oidc_stack.ws_url, subprotocols=["bearer." + token]) == 400


async def test_a_token_both_in_the_url_and_the_subprotocol_is_denied(oidc_stack):
    token = oidc_stack.mint_token("u_sp_twice")
    assert await status_of(f"{oidc_stack.ws_url}?token={token}", subprotocols=token_subprotocols(token)) == 403


async def test_a_forged_token_in_the_subprotocol_is_denied(oidc_stack):
    forged = LocalIssuer(oidc_stack.oidc_issuer_url, "wschat-local").mint("u_sp_forged")  # the right
    # issuer and audience, but signed by keys the issuer never published
    assert await status_of(oidc_stack.ws_url, subprotocols=token_subprotocols(forged)) == 403


# --- the built-in identity provider ---------------------------------------------------------------
def test_the_local_issuer_publishes_discovery_and_a_jwks(oidc_stack):
    discovery = local_api(oidc_stack, "GET", "/_local/oidc/.well-known/openid-configuration")
    assert discovery["issuer"] == oidc_stack.oidc_issuer_url == f"{oidc_stack.base_url}/_local/oidc"
    jwks = local_api(oidc_stack, "GET", "/_local/oidc/jwks.json")
    assert {k["kty"] for k in jwks["keys"]} == {"RSA"} and len(jwks["keys"]) >= 2  # signing + next
    assert discovery["jwks_uri"] == f"{oidc_stack.oidc_issuer_url}/jwks.json"


async def test_the_token_endpoint_signs_users_in_with_id_and_access_tokens(oidc_stack):
    tokens = local_api(oidc_stack, "POST", "/_local/oidc/token", {"username": "u_tep"})
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    async with await websockets.connect(oidc_stack.ws_url, subprotocols=token_subprotocols(tokens["id_token"])):
        pass


async def test_rotated_keys_keep_old_tokens_valid_and_sign_new_ones(oidc_stack):
    # GIVEN a user signed in before the rotation
    before = oidc_stack.mint_token("u_rot_old")
    async with await websockets.connect(f"{oidc_stack.ws_url}?token={before}"):
        pass
    # WHEN the issuer rotates (the new signing key was already published as "next")
    rotated = local_api(oidc_stack, "POST", "/_local/oidc/rotate")
    after = oidc_stack.mint_token("u_rot_new")
    # THEN tokens of both keys connect
    for token in (before, after):
        async with await websockets.connect(oidc_stack.ws_url, subprotocols=token_subprotocols(token)):
            pass
    assert rotated["signingKid"] != rotated["previousKid"] and rotated["previousKid"] in rotated["kids"]
    # AND retiring the old key removes it from the JWKS (verifiers drop it on their next fetch)
    kept = local_api(oidc_stack, "DELETE", f"/_local/oidc/keys/{rotated['previousKid']}")["kids"]
    assert rotated["previousKid"] not in kept


async def test_the_cli_gets_tokens_from_the_running_stacks_issuer(oidc_stack):
    out = subprocess.run([sys.executable, "-m", "emulator", "token", "--oidc", "--user", "u_cli",
                          "--stack", oidc_stack.base_url], cwd=REPO, capture_output=True, text=True, timeout=60,
                         check=True)
    token = out.stdout.strip()
    published = {k["kid"] for k in local_api(oidc_stack, "GET", "/_local/oidc/jwks.json")["keys"]}
    assert jwt.get_unverified_header(token)["kid"] in published
    async with await websockets.connect(oidc_stack.ws_url, subprotocols=token_subprotocols(token)):
        pass


