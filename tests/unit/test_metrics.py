"""The functions' own metrics (chat.metrics, chat.observe): EMF documents valid under the format's schema
(emulator/emf_schema.json + the reference rules, the same check the local stack applies), the catalogue's
names, units and dimensions, written once per invocation however it ends; and one message's id on every
log line and metric of every invocation it spawned."""

from __future__ import annotations

import json
import threading

import pytest

from chat import metrics, observe
from emulator.emf import InvalidDocument, extract

from .conftest import FakeContext, connect, handler, send

NAMESPACE = "wschat"


def printed(capsys) -> tuple[list[dict], list[dict]]:
    """(log lines, EMF documents) printed since the last call."""
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [e for e in entries if "_aws" not in e], [e for e in entries if "_aws" in e]


def data_of(documents: list[dict]) -> dict[tuple, list[float]]:
    """What CloudWatch takes from the documents: (name, dimensions) -> values (every document validated)."""
    out: dict[tuple, list[float]] = {}
    for document in documents:
        for datum in extract(document):
            assert datum.namespace == NAMESPACE
            out.setdefault((datum.name, datum.dimensions), []).extend(datum.values)
    return out


def test_every_catalogued_metric_is_written_as_a_valid_emf_document(capsys):
    # GIVEN one invocation recording every metric of the catalogue, with every value of its breakdown
    with metrics.invocation("wschat-dev-broadcast", NAMESPACE):
        for m in metrics.CATALOG.values():
            record = metrics.sample if m.distribution else metrics.count
            for value in m.values or (None,):
                record(m.name, 2, **({m.breakdown: value} if m.breakdown else {}))
        observe.message("01JD-message")
    # WHEN it ends / THEN every document passes the EMF schema and its references, and says what was recorded
    _, documents = printed(capsys)
    data = data_of(documents)
    expected = {(m.name, tuple(sorted({"FunctionName": "wschat-dev-broadcast",
                                       **({m.breakdown: v} if m.breakdown else {})}.items())))
                for m in metrics.CATALOG.values() for v in (m.values or (None,))}
    assert set(data) == expected and all(values == [2.0] for values in data.values())
    assert all(d["messageId"] == "01JD-message" for d in documents)  # a property, never a dimension
    dimension_sets = {tuple(s) for d in documents for s in d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]}
    assert dimension_sets == {("FunctionName",), ("FunctionName", "Kind"), ("FunctionName", "Reason")}
    units = {m["Name"]: m["Unit"] for d in documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {m.name: m.unit for m in metrics.CATALOG.values()}


@pytest.mark.parametrize("broken, reason", [
    (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
    # the same directives as the valid document just accepted (emf.validate's cache), a bad timestamp
    (lambda d: d["_aws"].update(Timestamp=-1), "less than the minimum"),
    (lambda d: d["_aws"].update(Timestamp="1764460800000"), "is not of type 'integer'"),
    (lambda d: d["_aws"].update(Timestamp=True), "is not of type 'integer'"),
    (lambda d: d.update(_aws=[d["_aws"]]), "is not of type 'object'"),
    (lambda d: d.pop("FunctionName"), "dimension 'FunctionName'"),
    (lambda d: d.update(DeliveriesGone="3"), "must be a number"),
    (lambda d: d.update(DeliveriesGone=list(range(101))), "1 to 100 values"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Deliveries"), "is not one of"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].extend(f"D{i}" for i in range(30)), "too long"),
])
def test_the_emf_check_rejects_what_cloudwatch_rejects(capsys, broken, reason):
    # GIVEN a valid document the functions printed, then broken one way
    with metrics.invocation("wschat-dev-send_message", NAMESPACE):
        metrics.count("DeliveriesGone", 3)
    [document] = printed(capsys)[1]
    assert extract(document)
    broken(document)
    # WHEN it is checked / THEN it is refused, saying why
    with pytest.raises(InvalidDocument, match=reason):
        extract(document)


def test_metrics_are_written_when_the_invocation_fails_and_only_then(capsys):
    # GIVEN an invocation that counts and then raises
    with pytest.raises(RuntimeError), metrics.invocation("wschat-dev-fanout", NAMESPACE):
        metrics.count("DeliveriesDelivered", 5)
        assert printed(capsys)[1] == []  # nothing is written before it ends
        raise RuntimeError("boom")
    # THEN what it counted is written all the same
    assert data_of(printed(capsys)[1]) == {("DeliveriesDelivered", (("FunctionName", "wschat-dev-fanout"),)): [5.0]}


def test_a_metric_outside_the_catalogue_or_its_closed_dimension_values_is_refused(capsys):
    with metrics.invocation("f", NAMESPACE):
        with pytest.raises(ValueError, match="not in chat.metrics.CATALOG"):
            metrics.count("DeliveriesMaybe")
        with pytest.raises(ValueError, match="Kind"):
            metrics.count("MessagesSent", Kind="u_alice")  # a user id would be a new metric per user
        with pytest.raises(ValueError, match="distribution"):
            metrics.count("FanoutTimeToLastDelivery")
    # AND outside an invocation nothing is recorded or printed
    metrics.count("DeliveriesDelivered")
    assert printed(capsys) == ([], [])


def test_invocations_side_by_side_never_mix_their_counts(capsys):
    # GIVEN two invocations running at once on two threads (as in the local emulator)
    both_counting = threading.Barrier(2)

    def invocation(name: str, n: int) -> None:
        with metrics.invocation(name, NAMESPACE):
            both_counting.wait()
            for _ in range(n):
                metrics.count("DeliveriesDelivered")
            both_counting.wait()

    threads = [threading.Thread(target=invocation, args=(f"fn-{n}", n)) for n in (3, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN each wrote its own count under its own function name
    assert data_of(printed(capsys)[1]) == {("DeliveriesDelivered", (("FunctionName", "fn-3"),)): [3.0],
                                           ("DeliveriesDelivered", (("FunctionName", "fn-7"),)): [7.0]}


def test_a_room_message_counts_its_kind_and_its_deliveries(aws, management, capsys):
    # GIVEN three members of a room
    for cid, user in (("a=", "alice"), ("b=", "bob"), ("c=", "carol")):
        connect(cid, user, room="lobby")
    management.fail["c="] = ["GoneException"]
    printed(capsys)
    # WHEN alice sends to it, and again with the same clientMessageId
    body = {"action": "sendMessage", "roomId": "lobby", "text": "hi", "clientMessageId": "k1"}
    first = send("a=", "alice", body, FakeContext("wschat-dev-send_message"))
    again = send("a=", "alice", body, FakeContext("wschat-dev-send_message"))
    # THEN one message is counted, bob got it, carol was gone, and the repeat counts as a duplicate
    assert again["messageId"] == first["messageId"] and again.get("duplicate") is True
    fn = (("FunctionName", "wschat-dev-send_message"),)
    data = data_of(printed(capsys)[1])
    assert data[("MessagesSent", (*fn, ("Kind", "room")))] == [1.0]
    assert (data[("DeliveriesDelivered", fn)], data[("DeliveriesGone", fn)], data[("DeliveriesFailed", fn)]) == \
        ([1.0], [1.0], [0.0])
    assert data[("DuplicateMessages", fn)] == [1.0]


def test_rate_limited_answers_and_authorizer_denials_are_counted_by_reason(aws, management, env, capsys):
    from .conftest import load_fixture

    env.setenv("RATE_LIMIT_PER_MINUTE", "1")
    connect("a=", "alice")
    connect("b=", "bob")
    for _ in range(2):
        send("a=", "alice", {"action": "sendMessage", "targetUserId": "bob", "text": "hi"},
             FakeContext("wschat-dev-send_message"))
    event = load_fixture("authorizer_request")
    event["queryStringParameters"] = {"token": "forged.token.value"}
    handler("authorizer")(event, FakeContext("wschat-dev-authorizer"))
    data = data_of(printed(capsys)[1])
    assert data[("RateLimited", (("FunctionName", "wschat-dev-send_message"),))] == [1.0]
    assert data[("AuthorizerDenials", (("FunctionName", "wschat-dev-authorizer"), ("Reason", "invalid_token")))] \
        == [1.0]


def test_every_line_and_metric_of_a_message_carries_its_id_across_the_fanout_continuation(
        aws, management, handed_off, env, capsys):
    # GIVEN a room and a sender whose invocation is out of time at once, so the fan-out is handed on
    for i in range(4):
        connect(f"c{i}=", f"u_{i}", room="lobby")
    printed(capsys)
    ack = send("c0=", "u_0", {"action": "sendMessage", "roomId": "lobby", "text": "hello"},
               FakeContext("wschat-dev-send_message", remaining=1000))
    [continuation] = handed_off
    # WHEN the fan-out worker runs the continuation Lambda would start
    handler("fanout")(json.loads(json.dumps(continuation.to_event())), FakeContext("wschat-dev-fanout"))
    # THEN every log line from the moment the message exists, in both invocations, names the message
    logs, documents = printed(capsys)
    message_id = ack["messageId"]
    sender_lines = [e for e in logs if e.get("route") == "sendMessage"]
    assert sender_lines and sender_lines[-1]["message"] == "handled"
    first = next(i for i, e in enumerate(sender_lines) if "message_id" in e)
    assert all(e["message_id"] == message_id for e in sender_lines[first:])
    worker_lines = [e for e in logs if e.get("function") == "wschat-dev-fanout"]
    assert worker_lines and all(e["message_id"] == message_id and e["fanout_hop"] == 1 for e in worker_lines)
    # AND both invocations' metrics carry it; the worker's name its job and hop
    assert {d["FunctionName"] for d in documents} == {"wschat-dev-send_message", "wschat-dev-fanout"}
    assert all(d["messageId"] == message_id for d in documents)
    data = data_of(documents)
    worker = (("FunctionName", "wschat-dev-fanout"),)
    assert data[("FanoutHop", worker)] == [1.0] and data[("DeliveriesDelivered", worker)] == [3.0]
    assert data[("FanoutContinuations", (("FunctionName", "wschat-dev-send_message"),))] == [1.0]
    # AND the pool threads that posted logged with the message's keys too (carry_context)
    assert sorted(management.recipients()) == ["c1=", "c2=", "c3="]


def test_the_readme_lists_every_metric_the_code_writes():
    from .conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Metrics, dashboard, logs, traces"):readme.index("## Configuration")]
    listed = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    assert listed == set(metrics.CATALOG)
