import pytest

from chat.config import OPTIONAL, REQUIRED, Settings
from chat.errors import ConfigurationError

BASE = {"CONNECTIONS_TABLE": "c", "ROOM_MEMBERS_TABLE": "r", "MESSAGES_TABLE": "m", "AWS_REGION": "eu-west-1"}


def test_missing_required_variables_are_named_in_the_error():
    with pytest.raises(ConfigurationError, match="ROOM_MEMBERS_TABLE, MESSAGES_TABLE"):
        Settings.from_env({"CONNECTIONS_TABLE": "c"})


def test_defaults_apply_when_optional_variables_are_absent():
    settings = Settings.from_env(BASE)
    assert settings.connection_ttl_seconds == 7800
    assert settings.region == "eu-west-1"
    assert settings.management_endpoint is None


@pytest.mark.parametrize("name, value, message", [
    ("FANOUT_CONCURRENCY", "lots", "must be an integer"),
    ("FANOUT_CONCURRENCY", "0", "between 1 and 512"),
    ("MAX_TEXT_CHARS", "999999", "between 1 and 30000"),
])
def test_bad_numbers_are_refused_with_the_variable_name(name, value, message):
    with pytest.raises(ConfigurationError, match=f"{name} must be .*{message}|{name} {message}"):
        Settings.from_env({**BASE, name: value})


def test_region_is_required_only_when_used():
    settings = Settings.from_env({k: v for k, v in BASE.items() if k != "AWS_REGION"})
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        settings.require_region()


def test_every_variable_is_documented_once():
    assert not set(REQUIRED) & set(OPTIONAL)
