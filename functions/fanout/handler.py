"""Continuation worker (no route): finishes a fan-out handed off by sendMessage/broadcast."""

from chat import fanout
from chat.config import get_settings
from chat.lambda_kit import remaining_ms, route
from chat.models import ensure_bound


@route(None, answer_errors=False)
def lambda_handler(event, context):
    ensure_bound()
    job = fanout.FanoutJob.from_event(event)
    report = fanout.run(job, get_settings(), remaining_ms(context))
    return {"statusCode": 200, "delivery": report.as_frame(), "itemsRead": report.items_read}
