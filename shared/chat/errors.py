"""Typed domain errors. Adapters translate botocore/PynamoDB errors into these with
``raise ... from e``; handlers turn them into protocol error frames once (chat.responses).

Each error carries everything said about it, in one place (as Powertools' ``ServiceError`` does):
its ``code``, the HTTP-like ``status`` of the route response, and for the codes a client can receive
in ``{"type": "error", "code": ...}`` the ``meaning`` that README's error table shows
(``client_error_codes()``; tests/unit/test_protocol.py checks the README against it).
Errors without a ``meaning`` never reach a client frame (authorizer, delivery, configuration).
"""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error this package raises on purpose."""

    code = "INTERNAL_ERROR"
    status = 500
    meaning: str | None = None  # a subclass that can reach a client says what its code means


class ConfigurationError(ChatError):
    code = "CONFIGURATION_ERROR"
    meaning = "the function is deployed without a setting it needs (named in `message`); nothing was done"


class BadRequest(ChatError):
    """The client's frame is malformed or violates a limit; nothing was written."""

    code = "BAD_REQUEST"
    status = 400
    meaning = "not JSON, not an object, a field missing/invalid/unknown"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownAction(BadRequest):
    code = "UNKNOWN_ACTION"
    meaning = "`$default`: not one of the actions above"


class PayloadTooLarge(BadRequest):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    meaning = "`text` over `MAX_TEXT_CHARS` (default 4000) or the frame over 128 KB"


class TooManyRooms(BadRequest):
    code = "TOO_MANY_ROOMS"
    status = 409
    meaning = "`MAX_ROOMS_PER_CONNECTION` (default 50) reached"


class NotFound(ChatError):
    code = "NOT_FOUND"
    status = 404
    meaning = "the target user has no live connection (nothing is stored)"


class ConnectionNotRegistered(NotFound):
    code = "NOT_CONNECTED"
    meaning = "this connection is not in the registry (expired)"


class Forbidden(ChatError):
    code = "FORBIDDEN"
    status = 403
    meaning = "no authorizer identity on the connection"


class NotMember(Forbidden):
    code = "NOT_A_MEMBER"
    meaning = "room not joined by this connection"


class SenderNotAllowed(Forbidden):
    """The payload tried to name the sender; identity comes from the authorizer only."""

    code = "SENDER_NOT_ALLOWED"
    meaning = "the payload tried to name the sender"


class RateLimited(ChatError):
    code = "RATE_LIMITED"
    status = 429
    meaning = ("more than `RATE_LIMIT_PER_MINUTE` (default 120) messages this minute from this "
               "connection")


class Throttled(ChatError):
    """@connections or DynamoDB answered a throttling error; retry with backoff."""

    code = "THROTTLED"
    status = 503
    meaning = "DynamoDB is throttling; resend (with `clientMessageId` it is safe)"


class Unauthorized(ChatError):
    """Authorizer: the identity source (token) is missing."""

    code = "UNAUTHORIZED"
    status = 401
    meaning = None


class InvalidToken(ChatError):
    """Authorizer: token present but forged, expired or otherwise invalid. ``reason`` is the closed-set
    label the authorizer's denial metric counts it under (chat.metrics.DENIAL_REASONS)."""

    code = "INVALID_TOKEN"
    status = 403
    meaning = None

    def __init__(self, message: str, *, reason: str = "invalid_token"):
        super().__init__(message)
        self.reason = reason


class IdentityProviderUnavailable(ChatError):
    """Authorizer (oidc mode): the identity provider's discovery document or key set could not be
    fetched in time. The authorizer fails closed: nobody is let in on a key it could not check."""

    code = "IDENTITY_PROVIDER_UNAVAILABLE"
    status = 500
    meaning = None


class ConnectionGone(ChatError):
    """@connections answered 410 GoneException for this connection id."""

    code = "GONE"
    meaning = None

    def __init__(self, connection_id: str):
        super().__init__(f"connection {connection_id} is gone")
        self.connection_id = connection_id


class DeliveryFailed(ChatError):
    """A post failed for a reason other than gone/throttling (403, 5xx, timeout)."""

    code = "DELIVERY_FAILED"
    meaning = None

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class FanoutHopLimit(Exception):  # noqa: N818 - named for what happened, like the AWS error names
    """A fan-out was handed on more than FANOUT_MAX_HOPS times: a runaway chain is stopped here.

    Deliberately not a ChatError: handlers turn ChatErrors into answers, and this one must fail the
    invocation, so that Lambda retries it and then sends its event (the unfinished job) to the
    on-failure destination instead of dropping it."""


def error_classes() -> list[type[ChatError]]:
    """ChatError and every subclass, parents first."""
    out, todo = [], [ChatError]
    while todo:
        cls = todo.pop(0)
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def client_error_codes() -> dict[str, str]:
    """code -> meaning of every error a client can receive in an error frame."""
    return {cls.code: cls.meaning for cls in error_classes() if cls.meaning is not None}
