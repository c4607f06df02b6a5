"""Local stack: an API Gateway WebSocket + @connections emulator with embedded DynamoDB.

``python -m emulator run`` starts it (see docs/local-stack.md); tests use :class:`LocalStack`.
"""

from emulator.config import Quotas, StackConfig
from emulator.faults import Faults
from emulator.stack import LocalStack
from emulator.threaded import ThreadedLocalStack

__all__ = ["Faults", "LocalStack", "Quotas", "StackConfig", "ThreadedLocalStack"]
