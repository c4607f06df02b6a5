"""The @connections adapter: what each answer of the service becomes (one post path, chat.signed_post,
with a fake poster at its seam), and how the management endpoint is built."""

import pytest

from chat.config import Settings
from chat.errors import ConfigurationError, ConnectionGone, DeliveryFailed, PayloadTooLarge, Throttled
from chat.management import Connections, endpoint_for

from .conftest import no_answer

BASE = {"CONNECTIONS_TABLE": "c", "ROOM_MEMBERS_TABLE": "r", "MESSAGES_TABLE": "m", "AWS_REGION": "eu-west-1"}


@pytest.fixture
def connections(management):
    return Connections("https://abcd1234.execute-api.eu-west-1.amazonaws.com/dev", "eu-west-1")


@pytest.mark.parametrize("code, error", [
    ("GoneException", ConnectionGone),
    ("LimitExceededException", Throttled),
    ("PayloadTooLargeException", PayloadTooLarge),
    ("ForbiddenException", DeliveryFailed),
])
def test_service_errors_become_typed_errors(connections, management, code, error):
    management.fail["abc="] = [code]
    with pytest.raises(error):
        connections.post("abc=", b"x")


def test_gone_error_names_the_dead_connection(connections, management):
    management.fail["dead="] = ["GoneException"]
    with pytest.raises(ConnectionGone) as err:
        connections.post("dead=", b"x")
    assert err.value.connection_id == "dead="


def test_server_errors_and_no_answer_are_retryable_but_forbidden_is_not(connections, management):
    management.fail["a="] = ["InternalServerErrorException", no_answer(), "ForbiddenException"]
    outcomes = []
    for _ in range(3):
        with pytest.raises(DeliveryFailed) as err:
            connections.post("a=", b"x")
        outcomes.append(err.value.retryable)
    assert outcomes == [True, True, False]


def test_a_successful_post_reaches_the_poster_once(connections, management):
    connections.post("ok=", b'{"type":"message"}')
    assert management.posts == [("ok=", b'{"type":"message"}')]


def test_endpoint_is_built_from_api_id_region_and_stage_not_the_domain():
    assert endpoint_for(Settings.from_env(BASE), "abcd1234", "prod") == (
        "https://abcd1234.execute-api.eu-west-1.amazonaws.com/prod")


def test_configured_endpoint_overrides_the_built_one():
    settings = Settings.from_env({**BASE, "MANAGEMENT_ENDPOINT": "http://127.0.0.1:8080/dev/"})
    assert endpoint_for(settings, "abcd1234", "prod") == "http://127.0.0.1:8080/dev"


def test_endpoint_needs_either_configuration_or_event_fields():
    with pytest.raises(ConfigurationError, match="MANAGEMENT_ENDPOINT"):
        endpoint_for(Settings.from_env(BASE), None, None)
