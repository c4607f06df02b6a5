"""$connect: register the connection as the authorizer's user, optionally in ?room=; select the
`wschat` subprotocol when the client offered subprotocols (browsers fail the handshake otherwise)."""

from chat import registry
from chat.errors import BadRequest
from chat.events import caller_of, offered_subprotocols, query_param
from chat.init_phase import prepare
from chat.lambda_kit import route
from chat.protocol import ROOM_ID, SUBPROTOCOL_HEADER, select_subprotocol


@route(answer_errors=False)
def lambda_handler(event, context):
    caller = caller_of(event)
    caller.require_user()
    room = query_param(event, "room")
    if room is not None and not ROOM_ID.match(room):
        raise BadRequest("invalid room in the query string")
    subprotocol = select_subprotocol(offered_subprotocols(event))
    registry.register(caller, room)
    if subprotocol is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "headers": {SUBPROTOCOL_HEADER: subprotocol}}


prepare("dynamodb")  # Lambda's init phase builds what the first invocation needs
