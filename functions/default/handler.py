"""$default: anything that is not a known action gets an error frame naming the valid ones."""

from chat import responses
from chat.config import get_settings
from chat.errors import BadRequest, UnknownAction
from chat.events import json_body
from chat.init_phase import prepare
from chat.lambda_kit import route


@route()
def lambda_handler(event, context):
    actions = get_settings().require_client_actions()
    try:
        body = json_body(event)
    except BadRequest as e:
        return responses.error(e, action="$default", valid_actions=actions)
    action = body.get("action")
    if action is None:
        err = UnknownAction("the frame has no 'action'")
    else:
        err = UnknownAction(f"unknown action {str(action)[:64]!r}; valid actions: {', '.join(actions)}")
    return responses.error(err, action="$default", valid_actions=actions)


prepare()  # Lambda's init phase builds what the first invocation needs
