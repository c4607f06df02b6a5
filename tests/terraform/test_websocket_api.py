"""Routes, integrations, permissions, the $connect authorizer, two-way route responses and the
stage, all generated from manifest.json; checked by evaluating the resources' own expressions."""

from __future__ import annotations

import json

import pytest

from tests.terraform.conftest import (
    API_VARS,
    EXECUTION_ARN,
    MANIFEST,
    MODULES,
    TF,
    blocks,
    evaluate,
    expand_resource,
    first,
    resource,
)

API = MODULES / "websocket_api"
ROUTES = MANIFEST["routes"]
FAKES = {
    "aws_apigatewayv2_api.this.id": '"API"',
    "aws_apigatewayv2_api.this.execution_arn": f'"{EXECUTION_ARN}"',
    "aws_apigatewayv2_authorizer.this.id": '"AUTHORIZER"',
    "aws_apigatewayv2_integration.this[each.key].id": '"integration-${each.key}"',
    "aws_apigatewayv2_route.this[each.key].id": '"route-${each.key}"',
}
FILES = ["variables.tf", "routes.tf"]


def expand(rtype: str, name: str, attributes: list[str]) -> dict:
    return expand_resource(API, rtype, name, attributes, FILES, API_VARS, FAKES)


@pytest.fixture(scope="module")
def routes() -> dict:
    return expand("aws_apigatewayv2_route", "this",
                  ["route_key", "target", "authorization_type", "authorizer_id", "route_response_selection_expression"])


@pytest.fixture(scope="module")
def integrations() -> dict:
    return expand("aws_apigatewayv2_integration", "this", ["integration_type", "integration_method", "integration_uri"])


@pytest.fixture(scope="module")
def permissions() -> dict:
    return expand("aws_lambda_permission", "route", ["statement_id", "action", "function_name", "principal", "source_arn"])


def test_every_manifest_route_has_a_route_an_integration_and_a_permission(routes, integrations, permissions):
    assert set(routes) == set(integrations) == set(permissions) == set(ROUTES)


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_route_targets_an_aws_proxy_integration_of_its_own_function(routes, integrations, key):
    function = ROUTES[key]["function"]
    assert routes[key]["route_key"] == key
    assert routes[key]["target"] == f"integrations/integration-{key}"
    assert integrations[key] == {"integration_type": "AWS_PROXY", "integration_method": "POST",
                                 "integration_uri": f"invoke:{function}"}


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_invoke_permission_is_scoped_to_the_route_and_stage(permissions, key):
    permission = permissions[key]
    assert permission["function_name"] == f"wschat-test-{ROUTES[key]['function']}"
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["source_arn"] == f"{EXECUTION_ARN}/dev/{key}"


def test_permission_statement_ids_are_unique_and_valid(permissions):
    ids = [p["statement_id"] for p in permissions.values()]
    assert len(set(ids)) == len(ids)
    assert all(i.replace("-", "").replace("_", "").isalnum() for i in ids)


def test_only_connect_uses_the_request_authorizer(routes):
    for key, route in routes.items():
        if key == "$connect":
            assert route["authorization_type"] == "CUSTOM" and route["authorizer_id"] == "AUTHORIZER"
        else:
            assert route["authorization_type"] == "NONE" and route["authorizer_id"] is None, key
    assert ROUTES["$connect"].get("authorizer") is True


def test_authorizer_is_a_request_authorizer_whose_identity_sources_follow_the_token_sources():
    authorizer = resource(API, "aws_apigatewayv2_authorizer", "this")
    assert authorizer["authorizer_type"] == "REQUEST"
    assert authorizer["identity_sources"] == "${local.identity_sources}"
    assert authorizer["authorizer_uri"] == "${var.invoke_arns[var.authorizer.function]}"
    assert MANIFEST["authorizer"]["tokenSources"] == {"query": "route.request.querystring.token",
                                                      "subprotocol": "route.request.header.Sec-WebSocket-Protocol"}
    permission = resource(API, "aws_lambda_permission", "authorizer")
    assert permission["function_name"] == "${var.function_names[var.authorizer.function]}"
    assert permission["source_arn"] == "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.this.id}"


def test_two_way_routes_have_a_default_route_response_and_one_way_routes_none(routes):
    two_way = {key for key, route in ROUTES.items() if route.get("routeResponse")}
    responses = expand_resource(API, "aws_apigatewayv2_route_response", "this", ["route_id", "route_response_key"],
                                FILES, API_VARS, FAKES)
    assert set(responses) == two_way
    assert all(r == {"route_id": f"route-{key}", "route_response_key": "$default"} for key, r in responses.items())
    for key, route in routes.items():
        assert route["route_response_selection_expression"] == ("$default" if key in two_way else None), key


def test_a_new_deployment_follows_every_route_integration_response_or_authorizer_change():
    deployment = resource(API, "aws_apigatewayv2_deployment", "this")
    trigger = deployment["triggers"]["redeployment"]
    for dependency in ("aws_apigatewayv2_route.this", "aws_apigatewayv2_integration.this",
                       "aws_apigatewayv2_route_response.this", "aws_apigatewayv2_authorizer.this"):
        assert dependency in trigger
    assert first(deployment["lifecycle"])["create_before_destroy"] is True
    assert resource(API, "aws_apigatewayv2_stage", "this")["deployment_id"] == "${aws_apigatewayv2_deployment.this.id}"


def test_stage_throttles_logs_json_and_publishes_detailed_metrics():
    stage = resource(API, "aws_apigatewayv2_stage", "this")
    settings = first(stage["default_route_settings"])
    assert settings["throttling_rate_limit"] == "${var.throttling_rate_limit}"
    assert settings["throttling_burst_limit"] == "${var.throttling_burst_limit}"
    assert settings["detailed_metrics_enabled"] is True
    assert settings["data_trace_enabled"] is False
    logs = first(stage["access_log_settings"])
    assert logs["destination_arn"] == "${aws_cloudwatch_log_group.access.arn}"
    group = resource(API, "aws_cloudwatch_log_group", "access")
    assert group["retention_in_days"] == "${var.log_retention_days}"


# The $context variables AWS documents for WebSocket access logs
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-logging.html); the HTTP API's
# $context.integrationErrorMessage and $context.integrationStatus are not among them.
WEBSOCKET_LOG_VARIABLES = {
    "apiId", "authorize.error", "authorize.latency", "authorize.status", "authorizer.error",
    "authorizer.integrationLatency", "authorizer.integrationStatus", "authorizer.latency", "authorizer.requestId",
    "authorizer.status", "authorizer.principalId", "authenticate.error", "authenticate.latency",
    "authenticate.status", "connectedAt", "connectionId", "domainName", "error.message", "error.messageString",
    "error.responseType", "error.validationErrorString", "eventType", "extendedRequestId", "identity.accountId",
    "identity.apiKey", "identity.apiKeyId", "identity.caller", "identity.cognitoAuthenticationProvider",
    "identity.sourceIp", "identity.user", "identity.userAgent", "identity.userArn", "integration.error",
    "integration.integrationStatus", "integration.latency", "integration.requestId", "integration.status",
    "integrationLatency", "messageId", "requestId", "requestTime", "requestTimeEpoch", "routeKey", "stage",
    "status", "waf.error", "waf.latency", "waf.status",
}


def test_access_log_format_is_one_json_object_with_the_connection_and_route():
    fmt = evaluate(API, FILES, API_VARS, {"format": "jsonencode(local.access_log_format)"})["format"]
    record = json.loads(fmt)
    assert {"requestId", "connectionId", "routeKey", "eventType", "status", "integrationError"} <= set(record)
    assert all(value.startswith("$context.") for value in record.values())


def test_access_log_format_uses_only_variables_aws_documents_for_websocket_apis():
    record = json.loads(evaluate(API, FILES, API_VARS, {"format": "jsonencode(local.access_log_format)"})["format"])
    assert {value.removeprefix("$context.") for value in record.values()} <= WEBSOCKET_LOG_VARIABLES


def test_every_route_function_times_out_before_the_29_s_integration_timeout():
    for key, route in ROUTES.items():
        assert MANIFEST["functions"][route["function"]]["timeout"] < 29, key


def test_a_route_function_allowed_29_s_is_rejected():
    # GIVEN sendMessage's function allowed the whole integration timeout / THEN the module refuses it
    timeouts = {**API_VARS["function_timeouts"], "send_message": 29}
    with pytest.raises(AssertionError, match="under 29 s"):
        evaluate(API, FILES, {**API_VARS, "function_timeouts": timeouts}, {"n": "length(var.routes)"})


def test_api_is_websocket_with_the_manifest_route_selection_expression():
    api = resource(API, "aws_apigatewayv2_api", "this")
    assert api["protocol_type"] == "WEBSOCKET"
    assert api["route_selection_expression"] == "${var.route_selection_expression}"
    call = blocks(TF, "module")["api"]
    assert call["route_selection_expression"] == "${local.manifest.routeSelectionExpression}"
    assert call["routes"] == "${local.manifest.routes}"
    assert call["authorizer"] == "${local.manifest.authorizer}"
    assert MANIFEST["routeSelectionExpression"] == "$request.body.action"


def test_root_reads_the_one_manifest():
    manifest = blocks(TF, "locals")["manifest"]
    assert manifest == '${jsondecode(file("${path.root}/../manifest.json"))}'


def test_an_authorizer_on_a_route_other_than_connect_is_rejected():
    bad = {**ROUTES, "sendMessage": {**ROUTES["sendMessage"], "authorizer": True}}
    with pytest.raises(AssertionError, match="authorize only at"):
        evaluate(API, FILES, {**API_VARS, "routes": bad}, {"n": "length(var.routes)"})


@pytest.mark.parametrize("sources, expected", [
    (["query"], ["route.request.querystring.token"]),
    (["subprotocol"], ["route.request.header.Sec-WebSocket-Protocol"]),
    # API Gateway requires every identity source to be present (AND): with both enabled, none is set
    # and the authorizer function answers 401 itself when neither carries a token
    (["query", "subprotocol"], []),
])
def test_identity_sources_are_the_single_enabled_token_source_or_none(sources, expected):
    result = evaluate(API, FILES, {**API_VARS, "token_sources": sources}, {"sources": "local.identity_sources"})
    assert result["sources"] == expected


def test_a_token_source_the_manifest_does_not_define_is_rejected():
    with pytest.raises(AssertionError, match="token_sources may name only"):
        evaluate(API, FILES, {**API_VARS, "token_sources": ["cookie"]}, {"n": "length(var.token_sources)"})


def test_root_passes_the_token_sources_to_the_api_and_the_functions():
    calls = blocks(TF, "module")
    assert calls["api"]["token_sources"] == calls["functions"]["token_sources"] == "${var.token_sources}"
