"""getHistory: newest-first page of a joined room, a direct conversation, or broadcasts."""

from chat import history, responses
from chat.events import caller_of, json_body
from chat.init_phase import prepare
from chat.lambda_kit import route
from chat.protocol import parse_history_request


@route()
def lambda_handler(event, context):
    caller = caller_of(event)
    page = history.fetch(caller, parse_history_request(json_body(event)))
    return responses.ok(page.as_frame())


prepare("dynamodb")  # Lambda's init phase builds what the first invocation needs
