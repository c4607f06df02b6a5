"""$disconnect: forget the connection (idempotent; $disconnect is best effort on AWS)."""

import logging

from chat import registry
from chat.events import caller_of, disconnect_details
from chat.init_phase import prepare
from chat.lambda_kit import route
from chat.logs import get_logger, log_event

log = get_logger("chat.disconnect")


@route(answer_errors=False)
def lambda_handler(event, context):
    caller = caller_of(event)
    status, reason = disconnect_details(event)
    removed = registry.unregister(caller.connection_id)
    log_event(log, logging.INFO, "disconnected", disconnectStatusCode=status, disconnectReason=reason,
              removed=removed)
    return {"statusCode": 200}


prepare("dynamodb")  # Lambda's init phase builds what the first invocation needs
