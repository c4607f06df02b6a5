"""A real identity provider endpoint for tests: an emulator.oidc_issuer.LocalIssuer's discovery
document and JWKS served over HTTP on 127.0.0.1 (port from the OS), counting every request, and
able to answer 503, refuse connections or hang (until the test ends) on demand."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulator.oidc_issuer import LocalIssuer

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks.json"


class JwksServer:
    """``mode``: "up" (serve), "error" (HTTP 503), "hang" (accept, never answer until close())."""

    def __init__(self, audience: str = "wschat-test", algorithm: str = "RS256") -> None:
        self.mode = "up"
        self.paths: list[str] = []
        self.jwks_override: dict[str, Any] | None = None  # serve this instead of the issuer's JWKS
        self.discovery_override: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._released = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner._record(self.path)
                if owner.mode == "hang":
                    owner._released.wait()
                    return
                if owner.mode == "error":
                    self._send(503, {"message": "unavailable"})
                elif self.path == DISCOVERY:
                    self._send(200, owner.discovery_override or owner.issuer.discovery(owner.url + JWKS))
                elif self.path == JWKS:
                    self._send(200, owner.jwks_override or owner.issuer.jwks())
                else:
                    self._send(404, {"message": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = LocalIssuer(self.url, audience, algorithm)
        # a short poll interval: shutdown() waits for one poll, and every test closes a server
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="jwks-server", daemon=True)
        self._thread.start()

    def _record(self, path: str) -> None:
        with self._lock:
            self.paths.append(path)

    @property
    def jwks_fetches(self) -> int:
        with self._lock:
            return self.paths.count(JWKS)

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.paths)

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def refusing_url() -> Iterator[str]:
    """A loopback URL that refuses connections: the port is bound (so nobody else gets it) but not
    listening, so a connect gets ECONNREFUSED at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
