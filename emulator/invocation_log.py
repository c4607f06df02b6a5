"""One log line per invocation (route, function, status, duration), like `sam local`.

Never logs tokens, headers or message bodies.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from emulator.lambda_runtime import Invocation

log = logging.getLogger("emulator.invocations")


class InvocationLogger:
    def __init__(self, enabled: bool, fmt: str = "text") -> None:
        self.enabled = enabled
        self.json = fmt == "json"

    def __call__(self, inv: Invocation, connection_id: str | None) -> None:
        if not self.enabled:
            return
        route = inv.route or "-"
        if self.json:
            line = json.dumps({
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "route": route, "function": inv.function, "status": inv.status, "outcome": inv.outcome,
                "duration_ms": round(inv.duration_ms, 1), "connection_id": connection_id,
                "request_id": inv.request_id,
            })
        else:
            line = (f"{time.strftime('%H:%M:%S')} {route:<12} -> {inv.function:<13} {inv.status!s:>3} "
                    f"{inv.duration_ms:8.1f} ms  conn={connection_id or '-'} req={inv.request_id}")
            if inv.outcome != "ok":
                line += f"  {inv.outcome}: {inv.error}"
        print(line, file=sys.stderr, flush=False)
