"""ping: keep-alive (any frame resets API Gateway's 10 minute idle timer); answers pong."""

from chat import registry, responses
from chat.events import caller_of, json_body
from chat.init_phase import prepare
from chat.lambda_kit import route
from chat.protocol import parse_ping


@route()
def lambda_handler(event, context):
    caller = caller_of(event)
    parse_ping(json_body(event))
    registry.touch(caller.connection_id)
    return responses.ok({"type": "pong", "serverTime": registry.now_ms()})


prepare("dynamodb")  # Lambda's init phase builds what the first invocation needs
