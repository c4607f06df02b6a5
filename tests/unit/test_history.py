from .conftest import connect, send


def test_history_pages_newest_first_with_a_next_token(aws, management):
    connect("a=", "alice", room="lobby")
    for i in range(5):
        send("a=", "alice", {"action": "sendMessage", "roomId": "lobby", "text": f"m{i}"})
    first = send("a=", "alice", {"action": "getHistory", "roomId": "lobby", "limit": 3})
    assert [m["text"] for m in first["messages"]] == ["m4", "m3", "m2"]
    second = send("a=", "alice", {"action": "getHistory", "roomId": "lobby", "limit": 3,
                                  "nextToken": first["nextToken"]})
    assert [m["text"] for m in second["messages"]] == ["m1", "m0"]


def test_room_history_needs_membership(aws, management):
    connect("a=", "alice", room="lobby")
    connect("b=", "bob")
    send("a=", "alice", {"action": "sendMessage", "roomId": "lobby", "text": "secret"})
    assert send("b=", "bob", {"action": "getHistory", "roomId": "lobby"})["code"] == "NOT_A_MEMBER"


def test_direct_history_is_only_the_callers_own_conversation(aws, management):
    connect("a=", "alice")
    connect("b=", "bob")
    connect("m=", "mallory")
    send("a=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "private"})
    assert [m["text"] for m in send("b=", "bob", {"action": "getHistory", "withUserId": "alice"})["messages"]] == [
        "private"]
    assert send("m=", "mallory", {"action": "getHistory", "withUserId": "alice"})["messages"] == []


def test_a_next_token_from_another_conversation_is_refused(aws, management):
    connect("a=", "alice", room="lobby")
    connect("m=", "mallory", room="open")
    for i in range(3):
        send("a=", "alice", {"action": "sendMessage", "roomId": "lobby", "text": f"m{i}"})
    token = send("a=", "alice", {"action": "getHistory", "roomId": "lobby", "limit": 1})["nextToken"]
    reply = send("m=", "mallory", {"action": "getHistory", "roomId": "open", "nextToken": token})
    assert (reply["code"], reply["field"]) == ("BAD_REQUEST", "nextToken")
    assert send("m=", "mallory", {"action": "getHistory", "roomId": "open", "nextToken": "%%%"})["code"] == "BAD_REQUEST"
