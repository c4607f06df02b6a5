"""Adapter over the @connections management API: builds the endpoint and posts through
chat.signed_post (the fan-out's hot path), turning its errors into our typed errors
(ConnectionGone, Throttled, PayloadTooLarge, DeliveryFailed) once, here."""

from __future__ import annotations

from typing import Protocol

from chat.clients import signed_poster
from chat.config import Settings
from chat.errors import ConfigurationError, ConnectionGone, DeliveryFailed, PayloadTooLarge, Throttled
from chat.signed_post import PostError

THROTTLE_CODES = frozenset({"LimitExceededException", "TooManyRequestsException", "ThrottlingException",
                            "Throttling"})


class Poster(Protocol):
    """PostToConnection for one stage: chat.signed_post.SignedPoster, or a test's fake."""

    def post(self, connection_id: str, data: bytes) -> None:
        """Raises PostError(code, HTTP status) on a service error, PostError(name, None) if no answer came."""


def endpoint_for(settings: Settings, api_id: str | None = None, stage: str | None = None) -> str:
    """MANAGEMENT_ENDPOINT if configured, else https://{apiId}.execute-api.{region}.amazonaws.com/{stage}.

    Built from apiId + region + stage rather than requestContext.domainName, which is a custom
    domain (not the execute-api host) when one is mapped.
    """
    if settings.management_endpoint:
        return settings.management_endpoint.rstrip("/")
    if not api_id or not stage:
        raise ConfigurationError("MANAGEMENT_ENDPOINT is not set and the event carries no apiId/stage")
    return f"https://{api_id}.execute-api.{settings.require_region()}.amazonaws.com/{stage}"


class Connections:
    """Posts to one stage's @connections, with errors translated once.

    The poster is the container's shared ``clients.signed_poster`` for the endpoint; that factory is
    the seam unit tests replace with a fake poster that raises PostError as the service would.
    """

    def __init__(self, endpoint: str, region: str, max_pool: int = 32) -> None:
        self.endpoint = endpoint
        self._poster: Poster = signed_poster(endpoint, region, max_pool)

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self._poster.post(connection_id, data)
        except PostError as e:
            if e.status is None:  # timeouts, connection resets: transient
                raise DeliveryFailed(f"post to {connection_id} failed: {e.code}", retryable=True) from e
            raise translate_status(e.code, e.status, connection_id) from e


def translate_status(code: str, status: int | None, connection_id: str) -> Exception:
    if code == "GoneException" or status == 410:
        return ConnectionGone(connection_id)
    if code in THROTTLE_CODES or status == 429:
        return Throttled(f"@connections throttled ({code or status})")
    if code == "PayloadTooLargeException" or status == 413:
        return PayloadTooLarge("frame exceeds the 128 KB @connections limit")
    return DeliveryFailed(f"post to {connection_id} failed: {code or status}",
                          retryable=status is None or status >= 500)
