import json

import pytest

from chat import fanout, metrics, registry
from chat.config import get_settings
from chat.fanout import FanoutJob, RetryPolicy, Segment
from chat.models import Connection

from .conftest import connect

ENDPOINT = "https://abcd1234.execute-api.us-east-1.amazonaws.com/dev"
NO_SLEEP = RetryPolicy(sleep=lambda seconds: None)


def job(segments, **kwargs):
    return FanoutJob(frame={"type": "message", "text": "hi"}, segments=segments, endpoint=ENDPOINT, **kwargs)


def test_room_fanout_reads_only_the_room_and_delivers_across_pages(aws, management, env):
    env.setenv("FANOUT_PAGE_SIZE", "4")
    for i in range(10):
        connect(f"r{i}=", f"u_{i}", room="lobby")
    for i in range(15):
        connect(f"o{i}=", f"x_{i}", room="other")
    report = fanout.run(job([Segment("room", "lobby")]), get_settings(), policy=NO_SLEEP)
    assert sorted(management.recipients()) == sorted(f"r{i}=" for i in range(10))
    assert (report.delivered, report.items_read) == (10, 10)


def test_gone_connection_is_deleted_and_only_that_one(aws, management):
    """Regression for the AWS sample's bug: on 410 it deleted the *sender's* connection id."""
    connect("sender=", "u_1", room="lobby")
    connect("dead=", "u_2", room="lobby")
    connect("alive=", "u_3", room="lobby")
    management.fail["dead="] = ["GoneException"]
    report = fanout.run(job([Segment("room", "lobby")], exclude=["sender="]), get_settings(), policy=NO_SLEEP)
    assert (report.delivered, report.gone) == (1, 1)
    assert registry.get("dead=") is None
    assert registry.get("sender=") is not None and registry.get("alive=") is not None
    assert not registry.is_member("lobby", "dead=")
    assert management.attempts["dead="] == 1  # a 410 is never retried


def test_throttled_posts_are_retried_with_backoff_then_delivered(aws, management):
    connect("c1=", "u_1", room="lobby")
    management.fail["c1="] = ["LimitExceededException", "LimitExceededException", "InternalServerErrorException"]
    sleeps = []
    report = fanout.run(job([Segment("room", "lobby")]), get_settings(), policy=RetryPolicy(sleep=sleeps.append))
    assert report.delivered == 1 and management.attempts["c1="] == 4 and len(sleeps) == 3


def test_forbidden_is_not_retried_and_counts_as_failed(aws, management):
    connect("c1=", "u_1", room="lobby")
    management.fail["c1="] = ["ForbiddenException"]
    report = fanout.run(job([Segment("room", "lobby")]), get_settings(), policy=NO_SLEEP)
    assert (report.delivered, report.failed, management.attempts["c1="]) == (0, 1, 1)
    assert registry.get("c1=") is not None


def test_the_retries_of_one_post_span_more_than_a_one_second_outage(aws, management):
    # GIVEN @connections answering 500 then 503 to every post for a while (make load's chaos: 1 s)
    connect("c1=", "u_1", room="lobby")
    management.fail["c1="] = ["InternalServerErrorException"] * 4 + ["ServiceUnavailableException"] * 3
    sleeps: list[float] = []
    # WHEN the fan-out posts with the default policy
    report = fanout.run(job([Segment("room", "lobby")]), get_settings(), policy=RetryPolicy(sleep=sleeps.append))
    # THEN it is delivered on the 8th attempt, after backing off at least 1 s in all, whatever the jitter
    assert (report.delivered, management.attempts["c1="]) == (1, 8)
    assert sum(sleeps) >= RetryPolicy().min_span_ms() / 1000 > 1.5


def test_persistent_throttling_gives_up_after_the_attempt_budget(aws, management):
    connect("c1=", "u_1", room="lobby")
    management.fail["c1="] = ["LimitExceededException"] * 10
    report = fanout.run(job([Segment("room", "lobby")]), get_settings(), policy=RetryPolicy(attempts=3, sleep=lambda s: None))
    assert (report.failed, management.attempts["c1="]) == (1, 3)


def test_broadcast_to_all_queries_every_shard_without_scan(aws, management):
    for i in range(12):
        connect(f"c{i}=", f"u_{i}")
    segments = [Segment("shard", n) for n in range(get_settings().broadcast_shards)]
    report = fanout.run(job(segments, exclude=["c0="]), get_settings(), policy=NO_SLEEP)
    assert sorted(management.recipients()) == sorted(f"c{i}=" for i in range(1, 12))
    assert report.items_read == 12


def test_out_of_time_hands_the_untried_rest_over_and_the_continuation_finishes_it(aws, management, handed_off, env):
    env.setenv("FANOUT_PAGE_SIZE", "5")
    env.setenv("FANOUT_CONCURRENCY", "2")
    for i in range(23):
        connect(f"c{i:02}=", f"u_{i}", room="lobby")
    settings = get_settings()
    budget = iter([10_000, 10_000, 10_000, 100])  # runs out after three chunks of 8 attempts... or fewer

    report = fanout.run(job([Segment("room", "lobby")]), settings, remaining_ms=lambda: next(budget, 0),
                        policy=NO_SLEEP)
    assert report.continued and len(handed_off) == 1
    # the hand-off travels as JSON through Lambda's async Invoke
    continuation = FanoutJob.from_event(json.loads(json.dumps(handed_off[0].to_event())))
    rest = fanout.run(continuation, settings, remaining_ms=lambda: 60_000, policy=NO_SLEEP)
    assert not rest.continued
    recipients = management.recipients()
    assert sorted(recipients) == sorted(f"c{i:02}=" for i in range(23))
    assert len(recipients) == len(set(recipients)) == report.delivered + rest.delivered


def test_continuation_event_is_refused_when_malformed():
    with pytest.raises(ValueError):
        FanoutJob.from_event({"type": "something-else"})


def test_oversized_frames_are_refused_before_posting():
    from chat.errors import PayloadTooLarge

    with pytest.raises(PayloadTooLarge):
        fanout.encode({"text": "x" * (128 * 1024)})


def test_hand_off_without_a_continuation_function_is_a_configuration_error(env):
    from chat import clients
    from chat.errors import ConfigurationError

    env.delenv("FANOUT_FUNCTION_NAME")
    clients.reset()
    with pytest.raises(ConfigurationError, match="FANOUT_FUNCTION_NAME"):
        fanout.continue_later(job([]), get_settings())


def test_connection_rows_written_by_connect_carry_a_shard(aws):
    connect("c1=", "u_1")
    assert 0 <= Connection.get("c1=").shard < get_settings().broadcast_shards


def test_a_hand_off_beyond_the_hop_cap_stops_the_chain_and_says_so(aws, management, handed_off, env, capsys):
    # GIVEN a continuation already at FANOUT_MAX_HOPS that runs out of time with work left
    from chat.errors import FanoutHopLimit

    env.setenv("FANOUT_MAX_HOPS", "3")
    for i in range(3):
        connect(f"c{i}=", f"u_{i}", room="lobby")
    at_cap = job([Segment("room", "lobby")], hops=3, job_id="j3")

    # WHEN it would hand the rest on / THEN it refuses: the invocation fails (its event goes to the
    # on-failure destination), nothing is handed on, and the log names the message and the hop
    with pytest.raises(FanoutHopLimit, match="hop 4, over FANOUT_MAX_HOPS=3"), \
            metrics.invocation("wschat-test-fanout", "wschat"):
        fanout.run(at_cap, get_settings(), remaining_ms=lambda: 0, policy=NO_SLEEP)
    assert handed_off == [] and management.recipients() == []
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [entry] = [e for e in lines if e.get("message") == "fan-out hop limit reached"]
    assert entry["level"] == "ERROR"
    assert {k: entry.get(k) for k in ("hops", "max_hops", "pending", "segments_left", "job_id")} == \
        {"hops": 3, "max_hops": 3, "pending": 0, "segments_left": 1, "job_id": "j3"}
    # AND the metric the hop-limit alarm watches counts it, once (what the log metric filter counted before)
    [emf] = [e for e in lines if "FanoutHopLimitReached" in e]
    assert (emf["FanoutHopLimitReached"], emf["FunctionName"]) == ([1.0], "wschat-test-fanout")


def test_a_hand_off_within_the_hop_cap_goes_on_one_hop_further(aws, management, handed_off, env):
    env.setenv("FANOUT_MAX_HOPS", "3")
    connect("c0=", "u_0", room="lobby")
    fanout.run(job([Segment("room", "lobby")], hops=2, job_id="j2"), get_settings(), remaining_ms=lambda: 0,
               policy=NO_SLEEP)
    assert [j.hops for j in handed_off] == [3]
