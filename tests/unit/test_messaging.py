"""sendMessage / broadcast through the real handlers, with moto tables and a recording
@connections client."""

import json

from chat.models import Message, MessageDedup

from .conftest import FakeContext, connect, send


def test_direct_message_reaches_every_connection_of_the_target_and_the_senders_other_devices(aws, management):
    connect("alice-phone=", "alice")
    connect("alice-laptop=", "alice")
    connect("bob-1=", "bob")
    connect("bob-2=", "bob")
    connect("carol=", "carol")
    ack = send("alice-phone=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "hi"})
    assert ack["type"] == "ack" and ack["delivery"]["delivered"] == 3
    assert sorted(management.recipients()) == ["alice-laptop=", "bob-1=", "bob-2="]
    frame = management.frames_to("bob-1=")[0]
    assert (frame["type"], frame["from"], frame["to"], frame["text"], frame["messageId"]) == (
        "message", "alice", "bob", "hi", ack["messageId"])


def test_sender_identity_comes_from_the_connection_not_the_payload(aws, management):
    connect("mallory=", "mallory")
    connect("bob=", "bob")
    reply = send("mallory=", "mallory",
                 {"action": "sendMessage", "targetUserId": "bob", "text": "hi", "from": "alice"})
    assert (reply["type"], reply["code"]) == ("error", "SENDER_NOT_ALLOWED")
    assert management.posts == [] and list(Message.scan()) == []


def test_message_to_an_offline_user_is_refused_and_not_stored(aws, management):
    connect("alice=", "alice")
    reply = send("alice=", "alice", {"action": "sendMessage", "targetUserId": "nobody", "text": "hi"})
    assert (reply["type"], reply["code"]) == ("error", "NOT_FOUND")
    assert list(Message.scan()) == []


def test_room_message_requires_membership_and_reaches_members_only(aws, management):
    connect("a=", "alice", room="lobby")
    connect("b=", "bob", room="lobby")
    connect("c=", "carol", room="kitchen")
    refused = send("c=", "carol", {"action": "sendMessage", "roomId": "lobby", "text": "let me in"})
    assert refused["code"] == "NOT_A_MEMBER" and management.posts == []
    ack = send("a=", "alice", {"action": "sendMessage", "roomId": "lobby", "text": "hello room"})
    assert ack["delivery"] == {"delivered": 1, "gone": 0, "failed": 0, "continued": False}
    assert management.recipients() == ["b="]
    assert [m.text for m in Message.query("room#lobby")] == ["hello room"]


def test_same_client_message_id_is_stored_and_delivered_once(aws, management):
    connect("a=", "alice")
    connect("b=", "bob")
    body = {"action": "sendMessage", "targetUserId": "bob", "text": "once", "clientMessageId": "m-1"}
    first = send("a=", "alice", body)
    second = send("a=", "alice", body)
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert first["messageId"] == second["messageId"]
    assert management.recipients() == ["b="]
    assert len(list(Message.query("dm#alice#bob"))) == 1
    assert MessageDedup.get("dedup#alice", "m-1").originalMessageId == first["messageId"]


def test_client_message_ids_are_scoped_per_sender(aws, management):
    connect("a=", "alice")
    connect("b=", "bob")
    send("a=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "x", "clientMessageId": "1"})
    reply = send("b=", "bob", {"action": "sendMessage", "targetUserId": "alice", "text": "y", "clientMessageId": "1"})
    assert reply["duplicate"] is False


def test_broadcast_reaches_everyone_but_the_sender(aws, management):
    for i in range(9):
        connect(f"c{i}=", f"u_{i}")
    ack = send("c0=", "u_0", {"action": "broadcast", "text": "attention"})
    assert ack["delivery"]["delivered"] == 8
    assert sorted(management.recipients()) == sorted(f"c{i}=" for i in range(1, 9))
    assert json.loads(management.posts[0][1])["kind"] == "broadcast"


def test_broadcast_to_a_room_needs_membership(aws, management):
    connect("a=", "alice", room="lobby")
    connect("b=", "bob")
    assert send("b=", "bob", {"action": "broadcast", "roomId": "lobby", "text": "x"})["code"] == "NOT_A_MEMBER"


def test_large_broadcast_hands_off_when_time_runs_out(aws, management, handed_off, env):
    env.setenv("FANOUT_PAGE_SIZE", "2")
    for i in range(6):
        connect(f"c{i}=", f"u_{i}")
    ack = send("c0=", "u_0", {"action": "broadcast", "text": "x"}, context=FakeContext(remaining=1000))
    assert ack["delivery"]["continued"] is True and len(handed_off) == 1


def test_rate_limited_sender_gets_an_error_frame_and_nothing_is_stored(aws, management, env):
    env.setenv("RATE_LIMIT_PER_MINUTE", "2")
    connect("a=", "alice")
    connect("b=", "bob")
    body = {"action": "sendMessage", "targetUserId": "bob", "text": "spam"}
    replies = [send("a=", "alice", body) for _ in range(3)]
    assert [r["type"] for r in replies] == ["ack", "ack", "error"] and replies[2]["code"] == "RATE_LIMITED"
    assert len(list(Message.query("dm#alice#bob"))) == 2


def test_fanout_function_continues_a_handed_off_job(aws, management, handed_off, env):
    from .conftest import handler

    env.setenv("FANOUT_PAGE_SIZE", "2")
    for i in range(7):
        connect(f"c{i}=", f"u_{i}")
    send("c0=", "u_0", {"action": "broadcast", "text": "x"}, context=FakeContext(remaining=1000))
    result = handler("fanout")(json.loads(json.dumps(handed_off[0].to_event())), FakeContext("fanout", 300_000))
    recipients = management.recipients()
    assert result["delivery"]["continued"] is False
    assert sorted(recipients) == sorted(f"c{i}=" for i in range(1, 7)) and len(recipients) == 6


def _stuck_first_delivery(management, lease_until):
    """alice's message c-1 is stored, its first delivery never finished (status delivering)."""
    connect("a=", "alice")
    connect("b=", "bob")
    body = {"action": "sendMessage", "targetUserId": "bob", "text": "once", "clientMessageId": "c-1"}
    first = send("a=", "alice", body)
    item = MessageDedup.get("dedup#alice", "c-1")
    item.update(actions=[MessageDedup.status.set("delivering"), MessageDedup.leaseUntil.set(lease_until)])
    management.posts.clear()
    return body, first


def test_a_retry_while_the_first_delivery_still_holds_its_lease_does_not_deliver_again(aws, management):
    import time

    body, first = _stuck_first_delivery(management, lease_until=int(time.time() * 1000) + 30_000)
    again = send("a=", "alice", body)
    assert (again["duplicate"], again["messageId"], "delivery" in again) == (True, first["messageId"], False)
    assert management.posts == []
    # and the sender learns when a resend may take over a delivery that may have died
    assert 25_000 < again["retryAfterMs"] <= 30_000


def test_a_retry_of_a_delivered_message_says_nothing_is_left_to_do(aws, management):
    connect("a=", "alice")
    connect("b=", "bob")
    body = {"action": "sendMessage", "targetUserId": "bob", "text": "once", "clientMessageId": "c-2"}
    first = send("a=", "alice", body)
    again = send("a=", "alice", body)
    assert (again["duplicate"], again["messageId"]) == (True, first["messageId"])
    assert "retryAfterMs" not in again and "delivery" not in again


def test_a_retry_after_the_first_delivery_was_abandoned_delivers_the_stored_message(aws, management):
    body, first = _stuck_first_delivery(management, lease_until=1)
    again = send("a=", "alice", body)
    assert again["duplicate"] is True and again["delivery"]["delivered"] == 1
    assert management.recipients() == ["b="]
    assert management.frames_to("b=")[0]["messageId"] == first["messageId"]
    assert MessageDedup.get("dedup#alice", "c-1").status == "delivered"
    assert send("a=", "alice", body).get("delivery") is None  # and only once


def test_a_multi_page_room_is_scattered_over_parallel_continuations_and_everyone_gets_it_once(
        aws, management, handed_off, env):
    from .conftest import handler

    # GIVEN a room of 23 (22 recipients) read in pages of 5
    env.setenv("FANOUT_PAGE_SIZE", "5")
    for i in range(23):
        connect(f"c{i:02}=", f"u_{i}", room="big")
    # WHEN c00 sends to the room
    ack = send("c00=", "u_0", {"action": "sendMessage", "roomId": "big", "text": "all hands"})
    # THEN this invocation delivered at most a page and a bit; each full page went to its own continuation
    assert ack["delivery"]["continued"] is True and len(handed_off) == 3
    assert all(len(job.pending) == 5 and not job.segments for job in handed_off)
    assert len({job.job_id for job in handed_off}) == 3
    for job in handed_off:  # the continuations run (in parallel on AWS)
        handler("fanout")(json.loads(json.dumps(job.to_event())), FakeContext("fanout", 300_000))
    recipients = management.recipients()
    assert sorted(recipients) == sorted(f"c{i:02}=" for i in range(1, 23)) and len(recipients) == 22


def test_a_small_broadcast_over_many_shards_is_not_scattered(aws, management, handed_off):
    for i in range(9):
        connect(f"c{i}=", f"u_{i}")
    ack = send("c0=", "u_0", {"action": "broadcast", "text": "few"})
    assert handed_off == [] and ack["delivery"] == {"delivered": 8, "gone": 0, "failed": 0, "continued": False}


def test_scatter_can_be_switched_off(aws, management, handed_off, env):
    env.setenv("FANOUT_PAGE_SIZE", "5")
    env.setenv("FANOUT_SCATTER", "0")
    for i in range(13):
        connect(f"c{i:02}=", f"u_{i}", room="big")
    ack = send("c00=", "u_0", {"action": "sendMessage", "roomId": "big", "text": "one invocation"})
    assert handed_off == [] and ack["delivery"]["delivered"] == 12
