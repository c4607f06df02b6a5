"""Unit tests of the emulator's pure parts: policy evaluation, route selection, token bucket, faults
and event builders (no sockets). The manifest's own tests are tests/unit/test_manifest.py."""

from __future__ import annotations

import time

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from emulator import events
from emulator.authorizer import decide, identity_present, policy_allows
from emulator.faults import FaultInjector, Faults
from emulator.quotas import TokenBucket

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect"


def policy(effect: str, resource: str = ARN) -> dict:
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}


@pytest.mark.parametrize(("doc", "allowed"), [
    (policy("Allow"), True),
    (policy("Deny"), False),
    (policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc123/*"), True),
    (policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/*"), False),
    ({"Statement": [policy("Allow")["Statement"][0], policy("Deny", "*")["Statement"][0]]}, False),
    ({}, False),
    (None, False),
])
def test_policy_evaluation_explicit_deny_wins_and_allow_must_match(doc, allowed):
    assert policy_allows(doc, ARN) is allowed


def test_authorizer_decision_carries_context_and_principal():
    decision = decide({"principalId": "u_1", "policyDocument": policy("Allow"), "context": {"userId": "u_1"}},
                      ARN, 8192, 3)
    assert decision.status == 200
    assert decision.context == {"userId": "u_1", "principalId": "u_1", "integrationLatency": 3}


@pytest.mark.parametrize("result", [
    {"principalId": "u", "policyDocument": policy("Allow"), "context": {"big": "x" * 9000}},
    {"principalId": "u", "policyDocument": policy("Allow"), "context": {"nested": {"a": 1}}},
    {"policyDocument": policy("Allow")},
    "not a dict",
])
def test_authorizer_results_api_gateway_refuses_are_500(result):
    assert decide(result, ARN, 8192, 1).status == 500


def test_missing_identity_source_is_detected_before_calling_the_authorizer():
    sources = ("route.request.querystring.token",)
    assert identity_present(sources, {"token": "t"}, {})
    assert not identity_present(sources, {}, {})
    assert not identity_present(sources, {"token": ""}, {})


def test_token_bucket_allows_the_burst_then_refills_at_the_rate():
    bucket = TokenBucket(rate=1000, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    deadline = time.monotonic() + 1
    while not bucket.take():
        assert time.monotonic() < deadline


def test_faults_validate_and_update_from_json_like_changes():
    faults = Faults().updated({"post_error_rate": "0.5", "post_error_status": 429, "lambda_functions": ["ping"]})
    assert (faults.post_error_rate, faults.post_error_status, faults.lambda_functions) == (0.5, 429, ("ping",))
    with pytest.raises(ValueError):
        Faults(post_error_rate=2)
    with pytest.raises(ValueError):
        Faults(post_error_status=404)
    with pytest.raises(ValueError):
        Faults().updated({"bogus": 1})


def test_fault_draws_are_reproducible_with_a_seed():
    injectors = [FaultInjector(Faults(post_error_rate=0.5, seed=7)) for _ in range(2)]
    draws = [[injector.post_error() for _ in range(20)] for injector in injectors]
    assert draws[0] == draws[1] and set(draws[0]) == {None, 410}


def test_lambda_faults_apply_only_to_the_named_functions():
    injector = FaultInjector(Faults(lambda_error_rate=1.0, lambda_latency_ms=5, lambda_functions=("ping",)))
    assert injector.lambda_error("ping") and not injector.lambda_error("default")
    assert injector.lambda_latency_s("ping") == 0.005 and injector.lambda_latency_s("default") == 0


def _base() -> dict:
    return events.base_context(connection_id="AAAAAAAAAAAAAAA=", connected_at_ms=1_700_000_000_000,
                               domain_name="127.0.0.1:8080", stage="dev", api_id="abc123", source_ip="127.0.0.1",
                               user_agent="test")


def test_event_builders_match_the_powertools_models():
    auth = {"userId": "u_1", "principalId": "u_1"}
    connect = events.connect_event(_base(), request_id="r1", headers={"Host": "h"}, multi_headers={"Host": ["h"]},
                                   query={"token": "t"}, multi_query={"token": ["t"]}, authorizer=auth)
    message = events.message_event(_base(), route_key="ping", request_id="r2", body="{}", authorizer=auth)
    disconnect = events.disconnect_event(_base(), request_id="r3", host="h", status_code=1001, reason="Going away",
                                         authorizer=auth)
    APIGatewayWebSocketConnectEventModel.model_validate(connect)
    APIGatewayWebSocketMessageEventModel.model_validate(message)
    APIGatewayWebSocketDisconnectEventModel.model_validate(disconnect)
    assert message["requestContext"]["messageId"] and "messageId" not in connect["requestContext"]


def test_request_time_has_the_api_gateway_format():
    assert events.request_time(1731332746.5) == "11/Nov/2024:13:45:46 +0000"
