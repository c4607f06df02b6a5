"""What every handler shares: its invocation's log keys and metrics, settings, and translating our typed
errors into protocol error frames (once, here). Unexpected exceptions are logged and re-raised, so API
Gateway answers the caller with its own "Internal server error" frame, as it does on AWS."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pynamodb.exceptions import PynamoDBException

from chat import metrics, observe, responses
from chat.config import get_settings
from chat.errors import ChatError, Throttled
from chat.logs import Stopwatch, end_invocation, get_logger, log_event, set_level, start_invocation

log = get_logger("chat.handler")
THROTTLING_CAUSES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                               "RequestLimitExceeded"})

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@contextmanager
def invocation(event: Any, context: Any) -> Iterator[str | None]:
    """One invocation's log keys (route, connection, request, function) and metrics (written when it
    ends, however it ends); yields the event's route key."""
    settings = get_settings()
    set_level(settings.log_level)
    ctx = event.get("requestContext") if isinstance(event, Mapping) else None
    ctx = ctx if isinstance(ctx, Mapping) else {}
    action = ctx.get("routeKey") if isinstance(ctx.get("routeKey"), str) else None
    function = getattr(context, "function_name", None)
    start_invocation(route=action, connection_id=ctx.get("connectionId"), request_id=ctx.get("requestId"),
                     function=function)
    try:
        with metrics.invocation(function, settings.metrics_namespace):
            yield action
    finally:
        end_invocation()


def observed(fn: Handler) -> Handler:
    """Decorates a handler that answers in its own shape (the authorizer): log keys and metrics only."""

    @functools.wraps(fn)
    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        with invocation(event, context):
            return fn(event, context)

    return handler


def route(*, answer_errors: bool = True) -> Callable[[Handler], Handler]:
    """Decorates a route handler: log keys and metrics of the invocation, maps ChatError -> error frame.

    The error frame's ``action`` is the event's route key (``requestContext.routeKey``), so a handler
    never repeats the key its manifest route already names. With ``answer_errors=False`` (routes
    without a route response: $connect, $disconnect, the fan-out worker) a ChatError becomes a bare
    status code; on $connect a status >= 400 makes API Gateway reject the handshake with it.
    """

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
            with invocation(event, context) as action:
                watch = Stopwatch()
                try:
                    try:
                        result = fn(event, context)
                    except PynamoDBException as e:
                        if getattr(e, "cause_response_code", None) in THROTTLING_CAUSES:
                            raise Throttled("the database is busy; try again") from e
                        raise
                    log_event(log, logging.INFO, "handled", status=result.get("statusCode"), duration_ms=watch.ms())
                    return result
                except ChatError as e:
                    log_event(log, logging.INFO, "rejected", code=e.code, reason=str(e), duration_ms=watch.ms())
                    observe.answered(e)
                    if not answer_errors:
                        return {"statusCode": e.status}
                    return responses.error(e, action=action)
                except Exception:
                    log.exception("unhandled error", duration_ms=watch.ms())
                    raise

        return handler

    return wrap


def remaining_ms(context: Any) -> Callable[[], int] | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter if callable(getter) else None
