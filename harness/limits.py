"""Process limits a run with thousands of sockets needs."""

from __future__ import annotations

import resource


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (10k sockets need it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
