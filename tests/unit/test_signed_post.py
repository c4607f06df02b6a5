"""chat.signed_post: the one path every post takes sends boto3's exact request, and each answer of the
service becomes its typed error (chat.management). Against a local HTTP server that records requests."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from chat import clients
from chat.errors import ConnectionGone, DeliveryFailed, PayloadTooLarge, Throttled
from chat.management import Connections

FROZEN = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)
CONNECTION_ID = "Ab/c+d=="  # '/', '+' and '=' must be escaped in the path as boto3 escapes them


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/dev"


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                     "body": body})
        status, headers, payload = self.server.answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(env) -> Iterator[Recorder]:
    srv = Recorder()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_the_signed_post_is_the_request_boto3_sends(server, monkeypatch):
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FROZEN.replace(tzinfo=None))
    monkeypatch.setattr("boto3.DEFAULT_SESSION", None)  # read this test's credentials, not an earlier test's
    data = json.dumps({"type": "message", "text": "héllo"}).encode()
    boto3.client("apigatewaymanagementapi", endpoint_url=server.endpoint, region_name="us-east-1").post_to_connection(
        ConnectionId=CONNECTION_ID, Data=data)
    Connections(server.endpoint, "us-east-1").post(CONNECTION_ID, data)
    theirs, ours = server.requests
    assert (ours["method"], ours["path"], ours["body"]) == (theirs["method"], theirs["path"], theirs["body"])
    assert ours["path"] == "/dev/@connections/Ab%2Fc%2Bd%3D%3D"
    for header in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        assert ours["headers"][header] == theirs["headers"][header], header


@pytest.mark.parametrize(("status", "headers", "body", "raised", "retryable"), [
    (410, {"x-amzn-ErrorType": "GoneException"}, b'{"message":"gone"}', ConnectionGone, None),
    (429, {"x-amzn-ErrorType": "LimitExceededException:http://internal"}, b"{}", Throttled, None),
    (413, {}, b'{"__type":"com.amazonaws#PayloadTooLargeException"}', PayloadTooLarge, None),
    (500, {"x-amzn-ErrorType": "InternalServerErrorException"}, b"{}", DeliveryFailed, True),
    (403, {"x-amzn-ErrorType": "ForbiddenException"}, b'{"message":"Forbidden"}', DeliveryFailed, False),
    (502, {}, b"<html>bad gateway</html>", DeliveryFailed, True),
])
def test_each_service_error_answer_becomes_its_typed_error(server, status, headers, body, raised, retryable):
    server.answer = (status, headers, body)
    with pytest.raises(raised) as err:
        Connections(server.endpoint, "us-east-1").post("abc=", b"x")
    if retryable is not None:
        assert err.value.retryable is retryable


def test_an_unreachable_endpoint_is_a_retryable_failure(env):
    with pytest.raises(DeliveryFailed) as err:
        Connections("http://127.0.0.1:9/dev", "us-east-1").post("abc=", b"x")
    assert err.value.retryable


def test_https_endpoints_are_verified_against_botocores_ca_bundle(env):
    from botocore.httpsession import get_cert_path

    poster = clients.signed_poster("https://abc123.execute-api.us-east-1.amazonaws.com/dev", "us-east-1")
    pool = poster._pool.connection_from_url("https://abc123.execute-api.us-east-1.amazonaws.com/")
    assert (pool.cert_reqs, pool.ca_certs) == ("CERT_REQUIRED", get_cert_path(True))
