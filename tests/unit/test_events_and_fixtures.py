"""The fixtures are real AWS event shapes: they validate against Powertools' parser models."""

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from chat.errors import BadRequest, PayloadTooLarge
from chat.events import caller_of, disconnect_details, json_body

from .conftest import connect_event, disconnect_event, load_fixture, message_event


@pytest.mark.parametrize("name, model", [
    ("connect", APIGatewayWebSocketConnectEventModel),
    ("message_send_message", APIGatewayWebSocketMessageEventModel),
    ("disconnect", APIGatewayWebSocketDisconnectEventModel),
])
def test_fixture_validates_against_powertools_model(name, model):
    model.model_validate(load_fixture(name))


def test_generated_test_events_validate_against_powertools_models():
    APIGatewayWebSocketConnectEventModel.model_validate(connect_event("c1=", "u_1", "lobby"))
    APIGatewayWebSocketMessageEventModel.model_validate(message_event("c1=", "u_1", {"action": "ping"}))
    APIGatewayWebSocketDisconnectEventModel.model_validate(disconnect_event("c1=", "u_1"))


def test_caller_identity_comes_from_the_authorizer_context():
    caller = caller_of(load_fixture("message_send_message"))
    assert (caller.connection_id, caller.user_id, caller.api_id, caller.stage) == (
        "TWegAdtZoAMCIdw=", "u_123", "abcd1234", "dev")
    assert caller.source_ip == "192.0.2.10"


def test_disconnect_details_are_read():
    assert disconnect_details(load_fixture("disconnect")) == (1001, "Going away")


@pytest.mark.parametrize("body, message", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"text"', "JSON object"),
    ("", "not valid JSON"),
])
def test_json_body_rejects_non_objects(body, message):
    event = message_event("c1=", "u_1", body, route="$default")
    with pytest.raises(BadRequest, match=message):
        json_body(event)


def test_json_body_decodes_base64_frames():
    event = message_event("c1=", "u_1", "eyJhY3Rpb24iOiJwaW5nIn0=", route="$default")
    event["isBase64Encoded"] = True
    assert json_body(event) == {"action": "ping"}


def test_json_body_refuses_more_than_128_kb():
    event = message_event("c1=", "u_1", '{"action":"ping","x":"' + "a" * 131072 + '"}', route="$default")
    with pytest.raises(PayloadTooLarge):
        json_body(event)


def test_event_without_connection_id_is_a_bad_request():
    with pytest.raises(BadRequest):
        caller_of({"requestContext": {}})
