"""PostToConnection on the fan-out's hot path: botocore's SigV4 signer over one pooled urllib3
connection manager, without boto3's request and response model machinery.

The request is the one boto3's ``post_to_connection`` sends (tests/unit/test_signed_post.py signs
both at the same instant and compares method, path, body and Authorization), for about half the
CPU per post: a 512 MB Lambda has about a third of a vCPU, and a broadcast to thousands of
connections is mostly this call. Errors are reported as the same (code, HTTP status) pairs botocore
would parse from the rest-json error (``x-amzn-ErrorType`` header, else the body's ``__type``), and
chat.management translates them once, for both paths. No retries here: chat.fanout retries.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import get_cert_path
from botocore.utils import percent_encode

SERVICE = "execute-api"
USER_AGENT = "wschat-fanout (botocore SigV4)"


class PostError(Exception):
    """The service answered an error (``status`` set) or the request did not complete (``status`` None)."""

    def __init__(self, code: str, status: int | None, message: str = "") -> None:
        super().__init__(f"{code or status}: {message}" if message else (code or str(status)))
        self.code = code
        self.status = status


class SignedPoster:
    def __init__(self, endpoint: str, region: str, credentials: Any, *, max_pool: int,
                 connect_timeout: float, read_timeout: float) -> None:
        self._base = endpoint.rstrip("/") + "/@connections/"
        self._region = region
        self._credentials = credentials  # botocore Credentials: refreshable ones refresh on read
        # TLS verified against the CA bundle botocore itself uses (certifi, else its own cacert.pem)
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=max_pool, block=False, retries=False,
                                         timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
                                         cert_reqs="CERT_REQUIRED", ca_certs=get_cert_path(True))

    def request(self, connection_id: str, data: bytes) -> AWSRequest:
        """The signed request for one post (what :meth:`post` sends)."""
        request = AWSRequest(method="POST", url=self._base + percent_encode(connection_id), data=data,
                             headers={"User-Agent": USER_AGENT})
        SigV4Auth(self._credentials.get_frozen_credentials(), SERVICE, self._region).add_auth(request)
        return request

    def post(self, connection_id: str, data: bytes) -> None:
        request = self.request(connection_id, data)
        try:
            response = self._pool.urlopen("POST", request.url, body=data, headers=dict(request.headers.items()),
                                          retries=False, redirect=False, preload_content=True)
        except urllib3.exceptions.HTTPError as e:  # connect/read timeouts, resets, refused
            raise PostError(type(e).__name__, None, str(e)) from e
        if response.status >= 300:
            raise PostError(error_code(response.headers, response.data), response.status,
                            error_message(response.data))


def error_code(headers: Any, body: bytes) -> str:
    code = headers.get("x-amzn-ErrorType") or ""
    if not code:
        parsed = _json(body)
        code = str(parsed.get("__type") or parsed.get("code") or "")
    return code.split(":", 1)[0].rsplit("#", 1)[-1]


def error_message(body: bytes) -> str:
    parsed = _json(body)
    return str(parsed.get("message") or parsed.get("Message") or "")


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
