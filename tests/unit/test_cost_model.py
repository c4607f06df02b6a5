"""The bench's dollar model (bench/cost.py): its arithmetic on known inputs, priced from its one table."""

from __future__ import annotations

import pytest

from bench import cost, report
from manifest import load_manifest

from .conftest import ROOT

MANIFEST = load_manifest(ROOT)


def test_usage_turns_counted_requests_units_and_billed_ms_into_dollars_from_the_price_table():
    # GIVEN what one room message of 100 recipients used, as the counting proxy and the stack report it
    fn = MANIFEST.routes["sendMessage"].function
    memory_gb = MANIFEST.functions[fn].memory / 1024
    counts = {"calls": {"UpdateItem": 1, "PutItem": 1, "Query": 1}, "rru": {"Query": 6.5},
              "wru": {"UpdateItem": 1, "PutItem": 2}, "invocations": {fn: {"invocations": 1, "billed_ms": 250}}}
    # WHEN the model prices it
    used = cost.usage(counts, MANIFEST, messages_in=1, messages_out=101, deliveries=100)
    usd = used.dollars()
    # THEN every part is count x the table's price, and the total is their sum
    p = cost.PRICES
    assert used.requests == 3
    assert used.gb_s == pytest.approx(0.25 * memory_gb)
    assert usd["lambda"] == pytest.approx(p["lambda_request"].usd + 0.25 * memory_gb * p[f"lambda_gb_s_{cost.ARCHITECTURE}"].usd)
    assert usd["dynamodb"] == pytest.approx(6.5 * 0.125e-6 + 3 * 0.625e-6)
    assert usd["websocket_messages"] == pytest.approx(102 * 1e-6)
    assert usd["connection_minutes"] == pytest.approx(100 / cost.DELIVERIES_PER_CONNECTION_MINUTE * 0.25e-6)
    assert usd["total"] == pytest.approx(sum(v for k, v in usd.items() if k != "total"))
    # AND per million deliveries is the same divided by 100 deliveries, times a million
    assert cost.per_million(usd, 100)["websocket_messages"] == pytest.approx(1.02)


def test_api_gateway_messages_are_metered_in_32_kb_units():
    assert cost.units("x" * 10) == 1
    assert cost.units("x" * (32 * 1024)) == 1
    assert cost.units("x" * (32 * 1024 + 1)) == 2
    assert cost.units({"text": "é" * 20_000}) == 2  # bytes, not characters


def test_every_price_names_its_source_and_the_table_its_date_and_region():
    assert cost.PRICES_READ["date"] and cost.PRICES_READ["region"]
    rows = cost.prices_table()
    assert {r["item"] for r in rows} == set(cost.PRICES)
    assert all(r["usd"] > 0 and r["source"] and r["date"] == cost.PRICES_READ["date"] for r in rows)


def test_mean_of_runs_averages_every_counter():
    a = cost.usage({"calls": {"UpdateItem": 2}, "wru": {"UpdateItem": 2}}, MANIFEST, messages_in=1, messages_out=3,
                   deliveries=2)
    b = cost.usage({"calls": {"UpdateItem": 1, "GetItem": 1}, "rru": {"GetItem": 0.5}, "wru": {"UpdateItem": 1}},
                   MANIFEST, messages_in=1, messages_out=1, deliveries=0)
    m = cost.mean([a, b])
    assert m.dynamodb_calls == {"GetItem": 0.5, "UpdateItem": 1.5}
    assert (m.requests, m.rru, m.wru, m.deliveries) == (2, 0.25, 1.5, 1)


def test_the_goals_compare_room_requests_with_the_baseline_and_the_room_of_100_with_the_seed():
    # GIVEN a run's cost figures: 5 -> 3 requests per room message, and dollars per million deliveries
    ops = [{"operation": report.ROOM_OP, "requests": 3}]
    dollars = [{"recipients": 100, "ratio_total": 1.8, "ratio_lambda_dynamodb": 40.0,
                "ours_per_million": {"total": 1.3, "lambda": 0.02, "dynamodb": 0.03, "websocket_messages": 1.0},
                "seed_per_million": {"total": 2.3, "lambda": 0.5, "dynamodb": 1.5}}]
    results = {"cost": {"operations": ops, "dollars": dollars},
               "baseline": {"ref": "abc", "operations": [{"operation": report.ROOM_OP, "requests": 5}]}}
    # WHEN they are evaluated
    goals = {g["goal"]: g for g in report.evaluate(results)}
    # THEN 40% fewer requests is met, the total 1/20 is missed and the Lambda + DynamoDB 1/20 is met
    assert goals["room_requests"]["met"] is True
    assert goals["cost_room100"]["met"] is False
    assert goals["cost_room100_design"]["met"] is True
