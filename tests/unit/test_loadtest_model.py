"""The load test's verdict (loadtest.model): who is an intended recipient, and what counts as lost,
duplicated or reordered. Hand-made timelines, so the load test itself can be trusted to fail."""

from loadtest.model import Epoch, Sent, intended, judge


def epoch(user, room="r", opened=0.0, closed=None, received=()):
    return Epoch(key=(user, 1), room=room, opened=opened, closed=closed, received=list(received))


def sent(key, sender="s", seq=1, room="r", first=10.0, acked=11.0, continued=False):
    return Sent(key=key, sender=(sender, 1), room=room, seq=seq, first_sent=first, acked=acked,
                message_id=f"id-{key}", continued=continued)


def test_intended_recipients_are_members_open_before_the_send_and_until_the_ack():
    message = sent("s.1")
    epochs = [epoch("s"), epoch("a"), epoch("late", opened=10.5), epoch("left", closed=10.8),
              epoch("stayed", closed=11.5), epoch("other", room="x")]
    assert [e.key[0] for e in intended(message, epochs, run_end=20)] == ["a", "stayed"]


def test_a_handed_off_message_is_intended_only_for_connections_open_until_the_end():
    message = sent("s.1", continued=True)
    epochs = [epoch("a"), epoch("closed-after-ack", closed=12.0)]
    assert [e.key[0] for e in intended(message, epochs, run_end=20)] == ["a"]


def test_an_unacked_message_has_no_intended_recipient():
    assert intended(sent("s.1", acked=None), [epoch("a")], run_end=20) == []


def test_a_missing_delivery_is_lost_and_a_repeated_one_duplicated():
    messages = {"s.1": sent("s.1"), "s.2": sent("s.2", seq=2, first=12, acked=13)}
    epochs = [epoch("s"), epoch("a", received=[("s.1", 10.2), ("s.1", 10.3)])]
    verdict = judge(messages, epochs, run_end=20)
    assert (verdict["expected_deliveries"], verdict["delivered"], verdict["lost"], verdict["duplicated"]) == (
        2, 1, 1, 1)
    assert verdict["lost_examples"] == ["s.2 -> a#1"]


def test_reordered_messages_of_one_sender_are_counted_unless_the_earlier_was_handed_off():
    in_order = {"s.1": sent("s.1"), "s.2": sent("s.2", seq=2, first=12, acked=13)}
    reversed_ = [epoch("a", received=[("s.2", 12.5), ("s.1", 12.6)])]
    assert judge(in_order, reversed_, run_end=20)["order_violations"] == 1
    handed_off = {"s.1": sent("s.1", continued=True), "s.2": sent("s.2", seq=2, first=12, acked=13)}
    assert judge(handed_off, reversed_, run_end=20)["order_violations"] == 0


def test_extra_and_unacked_deliveries_are_reported_but_are_not_losses():
    messages = {"s.1": sent("s.1"), "s.2": sent("s.2", seq=2, acked=None)}
    epochs = [epoch("late", opened=10.5, received=[("s.1", 10.9), ("s.2", 11.0)])]
    verdict = judge(messages, epochs, run_end=20)
    assert (verdict["lost"], verdict["extra_deliveries"], verdict["unacked_received"]) == (0, 1, 1)


def test_latency_percentiles_come_from_first_receipts():
    messages = {f"s.{i}": sent(f"s.{i}", seq=i, first=float(i), acked=float(i) + 0.5) for i in range(1, 101)}
    epochs = [epoch("a", received=[(f"s.{i}", i + i / 1000) for i in range(1, 101)])]
    verdict = judge(messages, epochs, run_end=200)
    assert verdict["latency_ms"]["p50"] == 50.0 and verdict["latency_ms"]["p99"] == 99.0


def test_the_load_test_refuses_non_loopback_targets_and_unbounded_runs():
    import pytest

    from loadtest.cli import build_parser, check_bounds

    for argv in (["--base-url", "http://example.com:8080"], ["--base-url", "http://10.0.0.5:8080"],
                 ["--clients", "100000"], ["--duration", "86400"], ["--post-429-rate", "2"]):
        with pytest.raises(SystemExit):
            check_bounds(build_parser().parse_args(argv))
    for argv in ([], ["--base-url", "http://127.0.0.1:8080"], ["--base-url", "http://localhost:1"]):
        check_bounds(build_parser().parse_args(argv))


def test_repeats_on_the_wire_are_reported_apart_from_duplicates_left_after_dedupe_by_message_id():
    # GIVEN a receiver that got m1 twice under one messageId (a repeat on the wire) and m2 under two
    # messageIds (stored twice: the app would show it twice even after dropping repeats by messageId)
    m1, m2 = sent("m1", seq=1), sent("m2", seq=2)
    m1.message_id, m2.message_id = "id1", "id2a"
    receiver = epoch("a", received=[("m1", 12.0), ("m1", 12.5), ("m2", 13.0), ("m2", 13.5)])
    receiver.message_ids = {"m1": {"id1"}, "m2": {"id2a", "id2b"}}
    # WHEN judged
    verdict = judge({"m1": m1, "m2": m2}, [receiver], run_end=20.0)
    # THEN both repeats are wire repeats, and only m2 is a duplicate after dedupe
    assert (verdict["duplicated"], verdict["duplicated_after_dedupe"], verdict["lost"]) == (2, 1, 0)
