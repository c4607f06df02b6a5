"""$default: anything that is not a known action gets an error frame naming the valid ones."""

from chat import responses
from chat.errors import BadRequest, UnknownAction
from chat.events import json_body
from chat.lambda_kit import route
from chat.protocol import ACTIONS


@route("$default")
def lambda_handler(event, context):
    try:
        body = json_body(event)
    except BadRequest as e:
        return responses.error(e, action="$default", valid_actions=True)
    action = body.get("action")
    if action is None:
        err = UnknownAction("the frame has no 'action'")
    else:
        err = UnknownAction(f"unknown action {str(action)[:64]!r}; valid actions: {', '.join(ACTIONS)}")
    return responses.error(err, action="$default", valid_actions=True)
