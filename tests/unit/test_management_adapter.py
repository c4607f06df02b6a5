"""The @connections adapter against a real botocore client (Stubber), not a fake."""

import boto3
import pytest
from botocore.stub import Stubber

from chat.config import Settings
from chat.errors import ConfigurationError, ConnectionGone, DeliveryFailed, PayloadTooLarge, Throttled
from chat.management import Connections, endpoint_for

BASE = {"CONNECTIONS_TABLE": "c", "ROOM_MEMBERS_TABLE": "r", "MESSAGES_TABLE": "m", "AWS_REGION": "eu-west-1"}


@pytest.fixture
def stubbed():
    client = boto3.client("apigatewaymanagementapi", region_name="eu-west-1",
                          endpoint_url="https://abcd1234.execute-api.eu-west-1.amazonaws.com/dev")
    with Stubber(client) as stub:
        yield Connections("unused", "eu-west-1", client=client), stub


@pytest.mark.parametrize("code, status, error", [
    ("GoneException", 410, ConnectionGone),
    ("LimitExceededException", 429, Throttled),
    ("PayloadTooLargeException", 413, PayloadTooLarge),
    ("ForbiddenException", 403, DeliveryFailed),
])
def test_service_errors_become_typed_errors(stubbed, code, status, error):
    connections, stub = stubbed
    stub.add_client_error("post_to_connection", service_error_code=code, http_status_code=status,
                          expected_params={"ConnectionId": "abc=", "Data": b"x"})
    with pytest.raises(error):
        connections.post("abc=", b"x")


def test_gone_error_names_the_dead_connection(stubbed):
    connections, stub = stubbed
    stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
    with pytest.raises(ConnectionGone) as err:
        connections.post("dead=", b"x")
    assert err.value.connection_id == "dead="


def test_server_errors_are_retryable_but_forbidden_is_not(stubbed):
    connections, stub = stubbed
    stub.add_client_error("post_to_connection", service_error_code="InternalServerError", http_status_code=500)
    stub.add_client_error("post_to_connection", service_error_code="ForbiddenException", http_status_code=403)
    with pytest.raises(DeliveryFailed) as first:
        connections.post("a=", b"x")
    with pytest.raises(DeliveryFailed) as second:
        connections.post("a=", b"x")
    assert (first.value.retryable, second.value.retryable) == (True, False)


def test_endpoint_is_built_from_api_id_region_and_stage_not_the_domain():
    assert endpoint_for(Settings.from_env(BASE), "abcd1234", "prod") == (
        "https://abcd1234.execute-api.eu-west-1.amazonaws.com/prod")


def test_configured_endpoint_overrides_the_built_one():
    settings = Settings.from_env({**BASE, "MANAGEMENT_ENDPOINT": "http://127.0.0.1:8080/dev/"})
    assert endpoint_for(settings, "abcd1234", "prod") == "http://127.0.0.1:8080/dev"


def test_endpoint_needs_either_configuration_or_event_fields():
    with pytest.raises(ConfigurationError, match="MANAGEMENT_ENDPOINT"):
        endpoint_for(Settings.from_env(BASE), None, None)
