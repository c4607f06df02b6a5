"""Lambda's init phase: what a function's first invocation would otherwise build, built while the
runtime imports the handler (Lambda runs the import with the full CPU burst, before the first event).

``prepare(...)`` is called once at the bottom of each handler module. It does its work only inside a
Lambda runtime (``AWS_LAMBDA_FUNCTION_NAME`` is set, as Lambda sets it for every function): an
import anywhere else (unit tests, tools, the emulator's shared interpreter) builds nothing and does
no I/O, so the rule "no clients at import time" still holds there. Inside Lambda it builds the same
cached objects the invocation path uses (``functools.cache``/``chat.clients``), so nothing is built
twice. A failure here never fails the import: it is logged, the caches stay empty, and the first
invocation builds (and fails, translated into a response) exactly as before.

Needs:
- ``dynamodb``: settings, the PynamoDB binding and its one botocore client (service model loaded).
- ``post``: credentials and the @connections signer for MANAGEMENT_ENDPOINT when it is configured
  (else the endpoint comes with the first event: only botocore's signer is loaded).
- ``secret``: the authorizer's verification key material: the HS256 secret (SSM GetParameter when
  JWT_SECRET_PARAMETER is set) or, in oidc mode, the identity provider's key set.
"""

from __future__ import annotations

import logging
import os
import time

from chat.logs import get_logger, log_event

log = get_logger("chat.init")
NEEDS = frozenset({"dynamodb", "post", "secret"})
LAMBDA_MARKER = "AWS_LAMBDA_FUNCTION_NAME"
OIDC_INIT_BUDGET_S = 2.0  # Lambda gives the init phase 10 s; a slow provider is retried on first use
#: Milliseconds the last ``prepare`` took in this interpreter (None: it built nothing); the cold-start
#: bench reports it apart from the code's own import time.
last_ms: float | None = None


def in_lambda() -> bool:
    return bool(os.environ.get(LAMBDA_MARKER))


def prepare(*needs: str) -> bool:
    """Builds what ``needs`` name (see the module doc) when running in Lambda; True when it did."""
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"unknown init needs {sorted(unknown)}; choose from {sorted(NEEDS)}")
    global last_ms
    if not in_lambda():
        return False
    t0 = time.perf_counter()
    try:
        _prepare(set(needs))
    except Exception as e:  # noqa: BLE001 - the first invocation builds it again and reports it properly
        log_event(log, logging.WARNING, "init phase: left for the first invocation", needs=",".join(sorted(needs)),
                  error=type(e).__name__, reason=str(e)[:300])
        return False
    finally:
        last_ms = (time.perf_counter() - t0) * 1000
    log_event(log, logging.DEBUG, "init phase ready", needs=",".join(sorted(needs)), duration_ms=round(last_ms, 1))
    return True


def _prepare(needs: set[str]) -> None:
    from chat.config import get_settings

    settings = get_settings()
    if needs & {"dynamodb", "post"}:
        _first_request_caches()
    if "dynamodb" in needs:
        from chat.models import transaction_connection

        transaction_connection()
    if "post" in needs:
        _prepare_post(settings)
    if "secret" in needs:
        _prepare_secret(settings)


def _first_request_caches() -> None:
    """What the first HTTP request through botocore computes once: preparing a request and copying
    its headers ask ``isinstance(items, Mapping)`` of a list and of an ItemsView, and each first
    negative answer walks every Mapping subclass loaded (60-80 ms once botocore and PynamoDB are
    imported) before the ABC caches it. A request prepared here, never sent, pays it in init."""
    from botocore.awsrequest import AWSRequest

    AWSRequest(method="POST", url="https://localhost/", data=b"{}", headers={"X-Init": "1"}).prepare().headers.copy()


def _prepare_post(settings) -> None:  # noqa: ANN001 - chat.config.Settings (imported lazily)
    if settings.management_endpoint:
        from chat.management import Connections, endpoint_for

        Connections(endpoint_for(settings), settings.require_region(), max_pool=settings.fanout_concurrency)
        return  # (the same cache key as chat.fanout's: built once)
    import botocore.auth  # noqa: F401 - the signer's module, as signed_poster would import it
    import botocore.session

    botocore.session.get_session().get_credentials()


def _prepare_secret(settings) -> None:  # noqa: ANN001
    from chat.auth import load_key_material

    load_key_material(settings, OIDC_INIT_BUDGET_S)
