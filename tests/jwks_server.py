"""A real identity provider endpoint for tests: emulator.oidc_issuer.IssuerServer (discovery + JWKS
over HTTP on 127.0.0.1, every request counted, faults on demand), and a URL that refuses connections."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from emulator.oidc_issuer import IssuerServer as JwksServer

__all__ = ["JwksServer", "refusing_url"]


@contextlib.contextmanager
def refusing_url() -> Iterator[str]:
    """A loopback URL that refuses connections: the port is bound (so nobody else gets it) but not
    listening, so a connect gets ECONNREFUSED at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
