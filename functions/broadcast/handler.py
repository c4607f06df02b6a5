"""broadcast: to everyone connected, or to a joined roomId; ack to sender."""

from chat import messaging, responses
from chat.config import get_settings
from chat.events import caller_of, json_body
from chat.init_phase import prepare
from chat.lambda_kit import remaining_ms, route
from chat.protocol import parse_broadcast


@route()
def lambda_handler(event, context):
    caller = caller_of(event)
    request = parse_broadcast(json_body(event), get_settings().max_text_chars)
    outcome = messaging.broadcast(caller, request, remaining_ms(context))
    return responses.ok(outcome.ack("broadcast", request.client_message_id))


prepare("dynamodb", "post")  # Lambda's init phase builds what the first invocation needs
