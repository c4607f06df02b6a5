import time

import jwt
import pytest

from .conftest import SECRET, FakeContext, handler, load_fixture


def authorize(token):
    event = load_fixture("authorizer_request")
    if token is None:
        event["queryStringParameters"] = {}
        event["multiValueQueryStringParameters"] = {}
    else:
        event["queryStringParameters"] = {"token": token}
    return handler("authorizer")(event, FakeContext("authorizer"))


def token(**claims):
    now = int(time.time())
    payload = {"sub": "u_123", "iat": now, "exp": now + 600} | claims
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, algorithm="HS256")


def effect(result):
    return result["policyDocument"]["Statement"][0]["Effect"]


def test_valid_token_is_allowed_with_the_user_in_the_context():
    result = authorize(token())
    assert effect(result) == "Allow"
    assert result["principalId"] == "u_123" and result["context"] == {"userId": "u_123"}
    assert result["policyDocument"]["Statement"][0]["Resource"] == load_fixture("authorizer_request")["methodArn"]


def test_missing_token_raises_unauthorized_for_a_401():
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(None)


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: token(exp=int(time.time()) - 3600), id="expired"),
    pytest.param(lambda: jwt.encode({"sub": "u_1", "exp": int(time.time()) + 60}, "another-secret-of-enough-length!!",
                                    algorithm="HS256"), id="forged"),
    pytest.param(lambda: jwt.encode({"sub": "u_1", "exp": int(time.time()) + 60}, None, algorithm="none"),
                 id="alg-none"),
    pytest.param(lambda: jwt.encode({"sub": "u_1", "exp": int(time.time()) + 60}, SECRET, algorithm="HS512"),
                 id="wrong-algorithm"),
    pytest.param(lambda: token(exp=None), id="no-exp"),
    pytest.param(lambda: token(sub="has space"), id="bad-subject"),
    pytest.param(lambda: "garbage", id="garbage"),
])
def test_bad_tokens_are_denied(bad):
    result = authorize(bad())
    assert effect(result) == "Deny" and "context" not in result


def test_issuer_and_audience_are_enforced_when_configured(env):
    from chat import clients

    env.setenv("JWT_ISSUER", "https://issuer.example")
    env.setenv("JWT_AUDIENCE", "chat")
    clients.reset()
    assert effect(authorize(token())) == "Deny"
    assert effect(authorize(token(iss="https://issuer.example", aud="chat"))) == "Allow"


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
        assert effect(authorize(token())) == "Allow"
