"""$connect: register the connection as the authorizer's user, optionally in ?room=."""

from chat import registry
from chat.errors import BadRequest
from chat.events import caller_of, query_param
from chat.lambda_kit import route
from chat.protocol import ROOM_ID


@route(answer_errors=False)
def lambda_handler(event, context):
    caller = caller_of(event)
    caller.require_user()
    room = query_param(event, "room")
    if room is not None and not ROOM_ID.match(room):
        raise BadRequest("invalid room in the query string")
    registry.register(caller, room)
    return {"statusCode": 200}
