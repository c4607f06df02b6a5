"""Property-based: arbitrary bodies and events never crash a handler; replies are well formed."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.protocol import ERROR_CODES

from .conftest import MANIFEST, FakeContext, connect, handler, message_event

MESSAGE_ROUTES = sorted(key for key in MANIFEST.routes if key not in ("$connect", "$disconnect"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
frames = st.fixed_dictionaries(
    {"action": st.sampled_from([*MANIFEST.client_actions, "x"])},
    optional={
        "text": json_values | st.text(max_size=200),
        "targetUserId": json_values | st.sampled_from(["bob", "alice", "nobody"]),
        "roomId": json_values | st.sampled_from(["lobby", "other"]),
        "limit": json_values,
        "nextToken": json_values,
        "clientMessageId": json_values,
        "broadcast": json_values,
        "from": st.text(max_size=5),
    },
)
bodies = st.one_of(frames.map(json.dumps), st.text(max_size=300), json_values.map(json.dumps))
CHECKS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_well_formed(result):
    assert isinstance(result, dict) and isinstance(result["statusCode"], int)
    if "body" in result:
        frame = json.loads(result["body"])
        assert isinstance(frame, dict) and isinstance(frame["type"], str) and frame["type"]
        if frame["type"] == "error":
            assert frame["code"] in ERROR_CODES and isinstance(frame["message"], str) and frame["message"]
            assert result["statusCode"] >= 400


@CHECKS
@given(route=st.sampled_from(MESSAGE_ROUTES), body=bodies)
def test_any_body_to_any_route_gets_a_well_formed_reply(aws, management, route, body):
    connect("alice=", "alice", room="lobby")
    connect("bob=", "bob")
    function = MANIFEST.routes[route].function
    event = message_event("alice=", "alice", body, route=route)
    assert_well_formed(handler(function)(event, FakeContext(function)))


@CHECKS
@given(function=st.sampled_from(sorted(MANIFEST.functions)),
       event=st.dictionaries(st.sampled_from(["requestContext", "body", "queryStringParameters", "isBase64Encoded",
                                              "methodArn", "type"]), json_values, max_size=5))
def test_arbitrary_events_never_raise_anything_but_the_authorizers_unauthorized(aws, function, event):
    try:
        result = handler(function)(event, FakeContext(function))
    except Exception as e:  # only the authorizer may raise, and only API Gateway's 401 signal
        assert function == MANIFEST.authorizer.function and str(e) == "Unauthorized", repr(e)
        return
    if function == MANIFEST.authorizer.function:
        assert result["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    else:
        assert_well_formed(result)
