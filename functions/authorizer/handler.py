"""REQUEST authorizer for $connect: token from ?token= or Sec-WebSocket-Protocol, verified in the
configured AUTH_MODE (hs256 secret or an OIDC provider's JWKS) -> IAM policy + {userId}."""

import logging

from chat import auth, observe
from chat.config import get_settings
from chat.errors import IdentityProviderUnavailable, InvalidToken
from chat.init_phase import prepare
from chat.lambda_kit import observed
from chat.logs import get_logger, log_event

log = get_logger("chat.authorizer")


@observed
def lambda_handler(event, context):
    settings = get_settings()
    method_arn = event.get("methodArn")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        token = auth.token_from(event, settings.token_sources)
        if token is None or not isinstance(method_arn, str):
            log_event(log, logging.INFO, "no token: unauthorized", sources=",".join(settings.token_sources))
            observe.denied("missing_token")
            raise Exception(auth.UNAUTHORIZED)  # API Gateway answers 401 for exactly this message
        user_id = auth.authenticate(token, settings, remaining() if callable(remaining) else None)
    except InvalidToken as e:
        log_event(log, logging.INFO, "token denied", reason=str(e), mode=settings.auth_mode)
        observe.denied(e.reason)
        return auth.policy("anonymous", "Deny", method_arn)
    except IdentityProviderUnavailable as e:
        # Fail closed: no policy at all, so API Gateway answers 500 and nobody gets in unchecked.
        log_event(log, logging.ERROR, "identity provider unavailable: failing closed", reason=str(e),
                  issuer=settings.oidc_issuer)
        observe.denied("provider_unavailable")
        raise
    log_event(log, logging.INFO, "token allowed", user_id=user_id, mode=settings.auth_mode)
    return auth.policy(user_id, "Allow", method_arn, {"userId": user_id})


prepare("secret")  # Lambda's init phase builds what the first invocation needs
