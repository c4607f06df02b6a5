"""Continuation worker (no route): finishes a fan-out handed off by sendMessage/broadcast.

Invoked asynchronously; resumes from its checkpoint when Lambda retries it after a crash.
"""

from chat import checkpoints, fanout, observe
from chat.config import get_settings
from chat.errors import BadRequest
from chat.init_phase import prepare
from chat.lambda_kit import remaining_ms, route


@route(answer_errors=False)
def lambda_handler(event, context):
    settings = get_settings()
    try:
        job = fanout.FanoutJob.from_event(event)
    except (ValueError, KeyError, TypeError) as e:
        raise BadRequest(f"not a fan-out continuation event: {e}") from e
    # its message id, job and hop on every line and metric from here
    observe.continuation(job.frame.get("messageId"), job.job_id, job.hops)
    todo = checkpoints.resume(job, settings)
    if todo is None:
        return {"statusCode": 200, "resumed": "already finished"}
    report = fanout.run(
        todo, settings, remaining_ms(context),
        progress=lambda rest: checkpoints.progress(job.job_id, rest),
        hand_off=lambda rest, s: checkpoints.hand_off(job.job_id, rest, s),
    )
    if not report.continued:
        checkpoints.finish(job.job_id)
    return {"statusCode": 200, "delivery": report.as_frame(), "itemsRead": report.items_read}


prepare("dynamodb", "post")  # Lambda's init phase builds what the first invocation needs
