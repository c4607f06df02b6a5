"""The async continuation worker survives Lambda's retry of a crashed invocation."""

import json

import pytest

from chat.fanout import FanoutJob, Segment

from .conftest import FakeContext, connect, handler

ENDPOINT = "https://abcd1234.execute-api.us-east-1.amazonaws.com/dev"


class Crash(Exception):
    pass


def continuation_event(n_recipients, job_id="job-1"):
    for i in range(n_recipients):
        connect(f"c{i:03}=", f"u_{i}", room="big")
    job = FanoutJob(frame={"type": "message", "messageId": "01M", "text": "hi"}, segments=[Segment("room", "big")],
                    endpoint=ENDPOINT, job_id=job_id)
    return json.loads(json.dumps(job.to_event()))


@pytest.fixture
def small_chunks(env):
    env.setenv("FANOUT_CONCURRENCY", "2")  # chunks of 8 posts
    env.setenv("FANOUT_PAGE_SIZE", "10")


def test_retry_after_a_crash_between_chunks_loses_nobody_and_repeats_nobody(aws, management, small_chunks, monkeypatch):
    event = continuation_event(30)
    calls = {"n": 0}
    real = __import__("chat.checkpoints", fromlist=["progress"]).progress

    def crash_after_second_checkpoint(job_id, rest):
        real(job_id, rest)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("the function died")

    monkeypatch.setattr("chat.checkpoints.progress", crash_after_second_checkpoint)
    with pytest.raises(Crash):
        handler("fanout")(event, FakeContext("fanout", 300_000))
    monkeypatch.setattr("chat.checkpoints.progress", real)
    handler("fanout")(event, FakeContext("fanout", 300_000))  # Lambda's retry: the same event
    recipients = management.recipients()
    assert sorted(recipients) == sorted(f"c{i:03}=" for i in range(30))
    assert len(recipients) == len(set(recipients))


def test_retry_after_a_crash_inside_a_chunk_loses_nobody_and_repeats_at_most_that_chunk(
        aws, management, small_chunks, monkeypatch):
    event = continuation_event(30)
    management.fail["c012="] = [Crash("out of memory")]
    with pytest.raises(Crash):
        handler("fanout")(event, FakeContext("fanout", 300_000))
    handler("fanout")(event, FakeContext("fanout", 300_000))
    recipients = management.recipients()
    assert set(recipients) == {f"c{i:03}=" for i in range(30)}
    repeats = len(recipients) - len(set(recipients))
    assert repeats <= 8  # one chunk (4 x FANOUT_CONCURRENCY); each repeat has the same messageId
    assert {json.loads(data)["messageId"] for _, data in management.posts} == {"01M"}


def test_a_finished_job_retried_again_posts_nothing(aws, management, small_chunks):
    event = continuation_event(5)
    handler("fanout")(event, FakeContext("fanout", 300_000))
    before = len(management.posts)
    result = handler("fanout")(event, FakeContext("fanout", 300_000))
    assert result["resumed"] == "already finished" and len(management.posts) == before == 5


def test_a_retried_worker_that_had_handed_off_resends_the_same_hand_off_only(aws, management, small_chunks,
                                                                             handed_off):
    event = continuation_event(30)
    budget = iter([60_000, 60_000, 10])
    context = FakeContext("fanout")
    context.get_remaining_time_in_millis = lambda: next(budget, 0)
    handler("fanout")(event, context)
    assert len(handed_off) == 1
    posted = len(management.posts)
    handler("fanout")(event, FakeContext("fanout", 300_000))  # retry of the same invocation
    assert len(management.posts) == posted  # nothing re-posted by the retry
    assert len(handed_off) == 2 and handed_off[0].job_id == handed_off[1].job_id
    handler("fanout")(json.loads(json.dumps(handed_off[0].to_event())), FakeContext("fanout", 300_000))
    handler("fanout")(json.loads(json.dumps(handed_off[1].to_event())), FakeContext("fanout", 300_000))
    recipients = management.recipients()
    assert sorted(recipients) == sorted(f"c{i:03}=" for i in range(30)) and len(recipients) == 30


def test_a_malformed_continuation_event_is_refused_without_retry_storm(aws):
    assert handler("fanout")({"type": "nonsense"}, FakeContext("fanout"))["statusCode"] == 400


def test_a_worker_past_the_hop_cap_fails_its_invocation_so_the_event_reaches_the_destination(aws, management, env):
    # GIVEN a continuation at FANOUT_MAX_HOPS with no time left to deliver
    from chat.errors import FanoutHopLimit

    env.setenv("FANOUT_MAX_HOPS", "2")
    event = continuation_event(3)
    event["hops"] = 2
    # WHEN the worker runs / THEN the invocation fails (no answer hides it): Lambda retries it, then
    # sends the event to the on-failure destination; nothing was posted or handed on
    with pytest.raises(FanoutHopLimit):
        handler("fanout")(event, FakeContext("fanout", 1))
    assert management.recipients() == []
