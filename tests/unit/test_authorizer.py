"""The authorizer function in both modes (hs256 secret, oidc JWKS) and from both token sources
(?token= and the Sec-WebSocket-Protocol header), with AWS's REQUEST authorizer event shape."""

import json
import time

import jwt
import pytest

from chat.errors import IdentityProviderUnavailable
from emulator.oidc_issuer import LocalIssuer
from tests.jwks_server import JwksServer, refusing_url

from .conftest import SECRET, FakeContext, handler, load_fixture

MODES = ["hs256", "oidc"]


def authorize(token=None, *, subprotocols=None, context=None):
    """The authorizer's answer to a $connect carrying ``token`` in the query string and/or offering
    ``subprotocols`` (a list, sent as one Sec-WebSocket-Protocol header)."""
    event = load_fixture("authorizer_request")
    event["queryStringParameters"] = {"token": token} if token is not None else {}
    event["multiValueQueryStringParameters"] = {"token": [token]} if token is not None else {}
    if subprotocols is not None:
        value = ", ".join(subprotocols)
        event["headers"]["Sec-WebSocket-Protocol"] = value
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [value]
    return handler("authorizer")(event, context or FakeContext("authorizer", remaining=5000))


def hs256_token(**claims):
    now = int(time.time())
    payload = {"sub": "u_123", "iat": now, "exp": now + 600} | claims
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, algorithm="HS256")


def effect(result):
    return result["policyDocument"]["Statement"][0]["Effect"]


@pytest.fixture(params=MODES)
def mint(request, env):
    """A token minter for the mode under test (oidc: a real JWKS over local HTTP)."""
    from chat import clients

    if request.param == "hs256":
        yield lambda user: hs256_token(sub=user)
        return
    with JwksServer("wschat-unit") as idp:
        env.setenv("AUTH_MODE", "oidc")
        env.setenv("OIDC_ISSUER", idp.url)
        env.setenv("OIDC_AUDIENCE", "wschat-unit")
        env.delenv("JWT_SECRET")
        clients.reset()
        yield idp.issuer.mint


# --- the same behaviour in both modes ------------------------------------------------------------
def test_valid_token_is_allowed_with_the_user_in_the_context(mint):
    result = authorize(mint("u_123"))
    assert effect(result) == "Allow"
    assert result["principalId"] == "u_123" and result["context"] == {"userId": "u_123"}
    assert result["policyDocument"]["Statement"][0]["Resource"] == load_fixture("authorizer_request")["methodArn"]


def test_a_token_in_the_subprotocol_header_is_allowed_with_the_same_context(mint):
    result = authorize(subprotocols=["wschat", "bearer." + mint("u_123")])
    assert effect(result) == "Allow" and result["context"] == {"userId": "u_123"}


def test_missing_token_raises_unauthorized_for_a_401(mint):
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(None)
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(None, subprotocols=["wschat"])  # a subprotocol list without a bearer entry


def test_a_token_given_twice_is_denied(mint):
    token = mint("u_123")
    assert effect(authorize(token, subprotocols=["wschat", "bearer." + token])) == "Deny"
    assert effect(authorize(None, subprotocols=["wschat", "bearer." + token, "bearer." + token])) == "Deny"


def test_token_sources_can_be_narrowed_to_keep_tokens_out_of_urls(mint, env):
    from chat import clients

    env.setenv("TOKEN_SOURCES", "subprotocol")
    clients.reset()
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(mint("u_123"))  # ?token= is not looked at any more: as if absent (401)
    assert effect(authorize(subprotocols=["wschat", "bearer." + mint("u_123")])) == "Allow"


def test_a_forged_token_is_denied(mint):
    forged = jwt.encode({"sub": "u_1", "exp": int(time.time()) + 60}, "another-secret-of-enough-length!!!!",
                        algorithm="HS256", headers={"kid": "k"})
    assert effect(authorize(forged)) == "Deny"


# --- hs256 specifics ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    pytest.param(lambda: hs256_token(exp=int(time.time()) - 3600), id="expired"),
    pytest.param(lambda: jwt.encode({"sub": "u_1", "exp": int(time.time()) + 60}, None, algorithm="none"),
                 id="alg-none"),
    pytest.param(lambda: jwt.encode({"sub": "u_1", "exp": int(time.time()) + 60}, SECRET + "-padding-to-64-bytes!",
                                    algorithm="HS512"), id="wrong-algorithm"),
    pytest.param(lambda: hs256_token(exp=None), id="no-exp"),
    pytest.param(lambda: hs256_token(sub="has space"), id="bad-subject"),
    pytest.param(lambda: "garbage", id="garbage"),
])
def test_bad_hs256_tokens_are_denied(bad):
    result = authorize(bad())
    assert effect(result) == "Deny" and "context" not in result


def test_issuer_and_audience_are_enforced_when_configured(env):
    from chat import clients

    env.setenv("JWT_ISSUER", "https://issuer.example")
    env.setenv("JWT_AUDIENCE", "chat")
    clients.reset()
    assert effect(authorize(hs256_token())) == "Deny"
    assert effect(authorize(hs256_token(iss="https://issuer.example", aud="chat"))) == "Allow"


def test_secret_is_read_from_ssm_when_a_parameter_is_configured(env):
    from moto import mock_aws

    from chat import auth, clients

    env.delenv("JWT_SECRET")
    env.setenv("JWT_SECRET_PARAMETER", "/wschat/test/jwt")
    clients.reset()
    with mock_aws():
        import boto3

        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/wschat/test/jwt", Value=SECRET, Type="SecureString")
        assert auth.jwt_secret() == SECRET
        assert effect(authorize(hs256_token())) == "Allow"


# --- oidc specifics -----------------------------------------------------------------------------
def oidc_env(env, issuer, **extra):
    from chat import clients

    for key, value in {"AUTH_MODE": "oidc", "OIDC_ISSUER": issuer, "OIDC_AUDIENCE": "wschat-unit", **extra}.items():
        env.setenv(key, value)
    clients.reset()


def test_an_unreachable_identity_provider_fails_closed_with_a_clear_log_line(env, capsys):
    # GIVEN oidc mode and an issuer that refuses connections
    with refusing_url() as url:
        oidc_env(env, url)
        token = LocalIssuer(url, "wschat-unit", "ES256").mint("u_1")
        # WHEN it authorizes / THEN it raises (API Gateway answers 500: nobody gets in unchecked)
        with pytest.raises(IdentityProviderUnavailable):
            authorize(token)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    failure = [e for e in lines if e.get("message") == "identity provider unavailable: failing closed"]
    assert failure and failure[0]["level"] == "ERROR" and "ConnectionRefusedError" in failure[0]["reason"]
    assert all(token not in json.dumps(e) for e in lines)


def test_too_little_time_left_fails_closed_without_fetching(env):
    with JwksServer("wschat-unit") as idp:
        oidc_env(env, idp.url)
        with pytest.raises(IdentityProviderUnavailable, match="no time left"):
            authorize(idp.issuer.mint("u_1"), context=FakeContext("authorizer", remaining=400))
        assert idp.requests == 0


def test_cognito_user_pool_tokens_from_moto_are_verified(env):
    # GIVEN a Cognito user pool (moto's server issues Cognito-shaped RS256 tokens and serves its JWKS)
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        idp = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=endpoint)
        pool = idp.create_user_pool(PoolName="wschat")["UserPool"]["Id"]
        client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                             ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH",
                                                                "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
        idp.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password="Passw0rd!long", Permanent=True)
        tokens = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": "alice", "PASSWORD": "Passw0rd!long"})
        result = tokens["AuthenticationResult"]
        # WHEN the authorizer is pointed at the pool (its real issuer URL; JWKS from moto's server)
        oidc_env(env, f"https://cognito-idp.us-east-1.amazonaws.com/{pool}", OIDC_AUDIENCE=client,
                 OIDC_USER_CLAIM="cognito:username", OIDC_TOKEN_USE="id",
                 OIDC_JWKS_URI=f"{endpoint}/{pool}/.well-known/jwks.json")
        # THEN the ID token is allowed as alice, the access token refused by token_use
        allowed = authorize(result["IdToken"])
        assert effect(allowed) == "Allow" and allowed["context"] == {"userId": "alice"}
        assert effect(authorize(result["AccessToken"])) == "Deny"
        # AND with access tokens configured instead, the access token is matched on its client_id
        oidc_env(env, f"https://cognito-idp.us-east-1.amazonaws.com/{pool}", OIDC_AUDIENCE=client,
                 OIDC_USER_CLAIM="username", OIDC_TOKEN_USE="access",
                 OIDC_JWKS_URI=f"{endpoint}/{pool}/.well-known/jwks.json")
        assert authorize(result["AccessToken"])["context"] == {"userId": "alice"}
    finally:
        server.stop()
