"""Load and soak test of the chat backend through the local stack (``python -m loadtest --help``).

Bounded and loopback-only. See docs/reliability.md#load for the definition of intended recipients and
what the report's figures mean; loadtest.model holds the verdict logic."""

from loadtest.model import judge
from loadtest.runner import LoadParams, Target, run_load

__all__ = ["LoadParams", "Target", "judge", "run_load"]
