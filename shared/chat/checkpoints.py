"""Checkpoints of asynchronous fan-out continuations (the ``fanout`` function).

Lambda retries a failed asynchronous invocation (twice by default) with the *same* event. The
worker therefore records, under ``fanout#<jobId>``, what is still to do after every finished
chunk, the hand-off to the next continuation, and completion. A retried invocation resumes from
that record: a finished job is not redone, a handed-off job re-sends the same hand-off (whose own
checkpoint makes it idempotent), and an interrupted job continues after its last finished chunk.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from chat import fanout
from chat.config import Settings
from chat.fanout import FanoutJob
from chat.models import FanoutCheckpoint, ensure_bound

RANGE_KEY = "state"
TTL = timedelta(days=1)


def _save(job_id: str, state: dict) -> None:
    FanoutCheckpoint(f"fanout#{job_id}", RANGE_KEY, state=json.dumps(state, separators=(",", ":")),
                     expiresAt=datetime.now(timezone.utc) + TTL).save()


def resume(job: FanoutJob, settings: Settings) -> FanoutJob | None:
    """The work still to do for this continuation event, or None when it was already finished."""
    if not job.job_id:
        return job
    ensure_bound()
    try:
        record = FanoutCheckpoint.get(f"fanout#{job.job_id}", RANGE_KEY, consistent_read=True)
    except FanoutCheckpoint.DoesNotExist:
        return job
    state = json.loads(record.state)
    if state.get("done"):
        return None
    if "handedOff" in state:
        fanout.continue_later(FanoutJob.from_event(state["handedOff"]), settings)
        return None
    return FanoutJob.from_event(state["todo"])


def progress(job_id: str, rest: FanoutJob) -> None:
    if job_id:
        _save(job_id, {"todo": rest.to_event()})


def hand_off(job_id: str, rest: FanoutJob, settings: Settings) -> None:
    """Records the hand-off before sending it, so a retry re-sends the same one (never a second)."""
    if job_id:
        _save(job_id, {"handedOff": rest.to_event()})
    fanout.continue_later(rest, settings)


def finish(job_id: str) -> None:
    if job_id:
        _save(job_id, {"done": True})
