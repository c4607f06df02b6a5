"""Stage defaults (name, throttling) read from terraform/variables.tf so local == deployed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("emulator")

FALLBACK_STAGE = "dev"
FALLBACK_RATE = 500.0
FALLBACK_BURST = 1000


@dataclass(frozen=True)
class StageDefaults:
    stage_name: str = FALLBACK_STAGE
    throttling_rate_limit: float = FALLBACK_RATE
    throttling_burst_limit: int = FALLBACK_BURST
    source: str = "built-in fallback"


def _variable_defaults(path: Path) -> dict[str, Any]:
    import hcl2  # python-hcl2; imported lazily: only `run` needs it

    with path.open() as fh:
        parsed = hcl2.load(fh)
    found: dict[str, Any] = {}
    for block in parsed.get("variable", []):
        for name, body in block.items():
            name = name.strip('"')
            if isinstance(body, dict) and "default" in body:
                found[name] = body["default"]
    return found


def load_stage_defaults(repo_root: Path) -> StageDefaults:
    path = repo_root / "terraform" / "variables.tf"
    try:
        values = _variable_defaults(path)
    except FileNotFoundError:
        log.warning("terraform/variables.tf not found: using stage %r, rate %s/s, burst %s",
                    FALLBACK_STAGE, FALLBACK_RATE, FALLBACK_BURST)
        return StageDefaults()
    except Exception as exc:  # noqa: BLE001 - a parse error must not stop the local stack
        log.warning("could not parse %s (%s): using built-in stage defaults", path, exc)
        return StageDefaults()
    missing = [n for n in ("stage_name", "throttling_rate_limit", "throttling_burst_limit") if n not in values]
    if missing:
        log.warning("terraform/variables.tf has no default for %s: using built-in values", ", ".join(missing))
    return StageDefaults(
        stage_name=str(values.get("stage_name", FALLBACK_STAGE)).strip('"'),
        throttling_rate_limit=float(values.get("throttling_rate_limit", FALLBACK_RATE)),
        throttling_burst_limit=int(values.get("throttling_burst_limit", FALLBACK_BURST)),
        source=str(path),
    )
