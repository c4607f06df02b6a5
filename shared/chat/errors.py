"""Typed domain errors. Adapters translate botocore/PynamoDB errors into these with
``raise ... from e``; handlers turn them into protocol error frames once (chat.responses)."""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error this package raises on purpose."""

    code = "INTERNAL_ERROR"


class ConfigurationError(ChatError):
    code = "CONFIGURATION_ERROR"


class BadRequest(ChatError):
    """The client's frame is malformed or violates a limit; nothing was written."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.field = field
        if code:
            self.code = code


class UnknownAction(BadRequest):
    code = "UNKNOWN_ACTION"


class PayloadTooLarge(BadRequest):
    code = "PAYLOAD_TOO_LARGE"


class NotFound(ChatError):
    code = "NOT_FOUND"


class Forbidden(ChatError):
    code = "FORBIDDEN"


class NotMember(Forbidden):
    code = "NOT_A_MEMBER"


class RateLimited(ChatError):
    code = "RATE_LIMITED"


class Unauthorized(ChatError):
    """Authorizer: the identity source (token) is missing."""

    code = "UNAUTHORIZED"


class InvalidToken(ChatError):
    """Authorizer: token present but forged, expired or otherwise invalid."""

    code = "INVALID_TOKEN"


class IdentityProviderUnavailable(ChatError):
    """Authorizer (oidc mode): the identity provider's discovery document or key set could not be
    fetched in time. The authorizer fails closed: nobody is let in on a key it could not check."""

    code = "IDENTITY_PROVIDER_UNAVAILABLE"


class ConnectionGone(ChatError):
    """@connections answered 410 GoneException for this connection id."""

    code = "GONE"

    def __init__(self, connection_id: str):
        super().__init__(f"connection {connection_id} is gone")
        self.connection_id = connection_id


class Throttled(ChatError):
    """@connections or DynamoDB answered a throttling error; retry with backoff."""

    code = "THROTTLED"


class DeliveryFailed(ChatError):
    """A post failed for a reason other than gone/throttling (403, 5xx, timeout)."""

    code = "DELIVERY_FAILED"

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class FanoutHopLimit(Exception):  # noqa: N818 - named for what happened, like the AWS error names
    """A fan-out was handed on more than FANOUT_MAX_HOPS times: a runaway chain is stopped here.

    Deliberately not a ChatError: handlers turn ChatErrors into answers, and this one must fail the
    invocation, so that Lambda retries it and then sends its event (the unfinished job) to the
    on-failure destination instead of dropping it."""


class ConnectionNotRegistered(NotFound):
    code = "NOT_CONNECTED"


class SenderNotAllowed(Forbidden):
    """The payload tried to name the sender; identity comes from the authorizer only."""

    code = "SENDER_NOT_ALLOWED"
