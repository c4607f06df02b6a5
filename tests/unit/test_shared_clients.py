"""A container builds each AWS client once, however many threads make their first call at once.

PynamoDB builds a botocore client lazily per connection without a lock; before chat.models shared
one client per binding, 32 handler threads racing to their first call built 32 sessions and
clients (~10 MB each), which is what made a function worker 350 MB bigger under the bench.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import botocore.session
import pytest

from chat import clients, models, registry
from chat.events import Caller

THREADS = 16


@pytest.fixture
def client_count(monkeypatch):
    made: list[str] = []
    lock = threading.Lock()
    original = botocore.session.Session.create_client

    def counting(self, service_name, *args, **kwargs):
        with lock:
            made.append(service_name)
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    return made


def _caller(i: int) -> Caller:
    return Caller(f"conn{i}=", f"user{i}", "$connect", None, None, None, None, None, None, None)


def _all_at_once(fn, n: int = THREADS) -> list:
    start = threading.Barrier(n)

    def run(i: int):
        start.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_every_model_and_transactions_share_one_dynamodb_client(aws, client_count):
    models.reset_binding()
    models.ensure_bound()
    client_count.clear()
    # first calls from many threads at once, spread over every model (no requests: moto is not thread-safe)
    got = _all_at_once(lambda i: models._ALL_MODELS[i % len(models._ALL_MODELS)]._get_connection().connection.client)
    assert {id(c) for c in got} == {id(models.transaction_connection().client)}
    assert client_count == ["dynamodb"]
    # and the shared client serves every model
    registry.register(_caller(1), "lobby")
    assert models.Connection.get("conn1=").userId == "user1"


def test_concurrent_first_calls_build_one_lambda_client(env, client_count):
    got = _all_at_once(lambda i: clients.lambda_client("us-east-1"))
    assert len({id(c) for c in got}) == 1
    assert client_count == ["lambda"]


def test_concurrent_first_calls_build_one_signed_poster(env):
    got = _all_at_once(lambda i: clients.signed_poster("http://127.0.0.1:9/local", "us-east-1"))
    assert len({id(p) for p in got}) == 1


def test_reset_also_clears_the_caches_other_modules_registered(env, monkeypatch):
    # GIVEN settings read once / WHEN the environment changes and clients.reset() runs
    from chat import config

    before = config.get_settings()
    monkeypatch.setenv("MAX_TEXT_CHARS", "7")
    assert config.get_settings() is before
    clients.reset()
    # THEN the settings (registered by chat.config, which clients does not import) are read again
    assert config.get_settings().max_text_chars == 7


def test_reset_forgets_cached_clients(env):
    first = clients.lambda_client("us-east-1")
    assert clients.lambda_client("us-east-1") is first
    clients.reset()
    assert clients.lambda_client("us-east-1") is not first
