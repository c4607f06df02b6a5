"""Adapter over the @connections management API: builds the endpoint and turns its errors into our
typed errors (ConnectionGone, Throttled, PayloadTooLarge, DeliveryFailed), once for both paths:
posts go through chat.signed_post (the fan-out's hot path), get/delete through boto3's client."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chat.clients import management_client, signed_poster
from chat.config import Settings
from chat.errors import ConfigurationError, ConnectionGone, DeliveryFailed, PayloadTooLarge, Throttled
from chat.signed_post import PostError

THROTTLE_CODES = frozenset({"LimitExceededException", "TooManyRequestsException", "ThrottlingException",
                            "Throttling"})


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
    """post/get/delete on one stage's @connections, with errors translated once.

    ``client`` (a boto3 apigatewaymanagementapi client or a stand-in) replaces both paths: tests
    use it to script the service's answers (or make ``signed_poster`` return None).
    """

    def __init__(self, endpoint: str, region: str, max_pool: int = 32, client: Any = None):
        self.endpoint = endpoint
        self._region = region
        self._max_pool = max_pool
        self._client = client
        self._poster = None if client is not None else signed_poster(endpoint, region, max_pool)
        if self._poster is None and self._client is None:
            self._client = management_client(endpoint, region, max_pool)

    def post(self, connection_id: str, data: bytes) -> None:
        if self._poster is None:
            try:
                self._client.post_to_connection(ConnectionId=connection_id, Data=data)
            except ClientError as e:
                raise translate(e, connection_id) from e
            except BotoCoreError as e:  # timeouts, connection resets: transient
                raise DeliveryFailed(f"post to {connection_id} failed: {type(e).__name__}", retryable=True) from e
            return
        try:
            self._poster.post(connection_id, data)
        except PostError as e:
            if e.status is None:  # timeouts, connection resets: transient
                raise DeliveryFailed(f"post to {connection_id} failed: {e.code}", retryable=True) from e
            raise translate_status(e.code, e.status, connection_id) from e

    def delete(self, connection_id: str) -> None:
        if self._client is None:
            self._client = management_client(self.endpoint, self._region, self._max_pool)
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except ClientError as e:
            raise translate(e, connection_id) from e


def translate(error: ClientError, connection_id: str) -> Exception:
    return translate_status(error.response.get("Error", {}).get("Code", ""),
                            error.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), connection_id)


def translate_status(code: str, status: int | None, connection_id: str) -> Exception:
    if code == "GoneException" or status == 410:
        return ConnectionGone(connection_id)
    if code in THROTTLE_CODES or status == 429:
        return Throttled(f"@connections throttled ({code or status})")
    if code == "PayloadTooLargeException" or status == 413:
        return PayloadTooLarge("frame exceeds the 128 KB @connections limit")
    return DeliveryFailed(f"post to {connection_id} failed: {code or status}",
                          retryable=status is None or status >= 500)
