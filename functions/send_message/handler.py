"""sendMessage: to every live connection of targetUserId, or to a joined roomId; ack to sender."""

from chat import messaging, responses
from chat.config import get_settings
from chat.events import caller_of, json_body
from chat.init_phase import prepare
from chat.lambda_kit import remaining_ms, route
from chat.protocol import parse_send_message


@route()
def lambda_handler(event, context):
    caller = caller_of(event)
    request = parse_send_message(json_body(event), get_settings().max_text_chars)
    outcome = messaging.send_message(caller, request, remaining_ms(context))
    return responses.ok(outcome.ack("sendMessage", request.client_message_id))


prepare("dynamodb", "post")  # Lambda's init phase builds what the first invocation needs
