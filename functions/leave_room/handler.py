"""leaveRoom: remove this connection from a room it joined."""

from chat import registry, responses
from chat.events import caller_of, json_body
from chat.init_phase import prepare
from chat.lambda_kit import route
from chat.protocol import parse_room_request


@route()
def lambda_handler(event, context):
    caller = caller_of(event)
    request = parse_room_request(json_body(event))
    registry.leave(caller, request.room_id)
    return responses.ok({"type": "left", "roomId": request.room_id})


prepare("dynamodb")  # Lambda's init phase builds what the first invocation needs
