"""DynamoDB Local takes no port 0: the emulator picks a free port and hands it over. Another process
may bind it in between (other stacks on a shared machine); the emulator must then never talk to that
process's server as if it were its own."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from emulator import dynamodb
from emulator.dynamodb import EmbeddedDynamoDB

from .conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="DynamoDB Local needs java")


class _Impostor(BaseHTTPRequestHandler):
    """Answers like a DynamoDB endpoint would to the readiness probe (HTTP 400), but is not ours."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(400)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_a_port_taken_before_dynamodb_local_binds_it_is_given_up_for_another(monkeypatch):
    # GIVEN another process's HTTP server on the port the emulator picks first
    impostor = HTTPServer(("127.0.0.1", 0), _Impostor)
    taken = impostor.server_address[1]
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    picks = iter([taken])
    real_free_port = dynamodb.free_port
    monkeypatch.setattr(dynamodb, "free_port", lambda host="127.0.0.1": next(picks, None) or real_free_port(host))
    db = EmbeddedDynamoDB(REPO, "local")
    try:
        # WHEN the embedded DynamoDB starts
        endpoint = asyncio.run(db.start())

        # THEN it runs on another port, served by its own JVM
        port = int(endpoint.rsplit(":", 1)[1])
        assert port != taken
        assert db._listens_itself()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        asyncio.run(db.stop())
        impostor.shutdown()
        impostor.server_close()
