"""REQUEST authorizer for $connect: token from ?token=, HS256 JWT -> IAM policy + {userId}."""

import logging

from chat import auth
from chat.config import get_settings
from chat.errors import InvalidToken
from chat.logs import get_logger, log_event

log = get_logger("chat.authorizer")


def lambda_handler(event, context):
    token = auth.token_from(event)
    method_arn = event.get("methodArn")
    if token is None or not isinstance(method_arn, str):
        log_event(log, logging.INFO, "no token: unauthorized")
        raise Exception(auth.UNAUTHORIZED)  # API Gateway answers 401 for exactly this message
    try:
        user_id = auth.verify(token, auth.jwt_secret(), get_settings())
    except InvalidToken as e:
        log_event(log, logging.INFO, "token denied", reason=str(e))
        return auth.policy("anonymous", "Deny", method_arn)
    log_event(log, logging.INFO, "token allowed", user_id=user_id)
    return auth.policy(user_id, "Allow", method_arn, {"userId": user_id})
