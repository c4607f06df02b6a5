"""Inside a sandbox: the gateway's ``("abort", call_id)`` stops that invocation's handler where it is
(it does no further work and sends no reply) while the other invocations of the process finish."""

from __future__ import annotations

import threading
import time
from typing import Any

from emulator.function_worker import Running, run_invocation


class LoopingFunctions:
    """``loop`` runs until stopped, then would post; ``quick`` waits for ``go``, then answers."""

    def __init__(self) -> None:
        self.looping = threading.Event()
        self.go = threading.Event()
        self.posted: list[str] = []

    def call(self, name: str, event: Any, request_id: str, deadline: float) -> Any:
        if name == "loop":
            self.looping.set()
            while True:  # a handler that never returns by itself
                time.sleep(0.001)
                if len(self.posted) > 1_000_000:
                    break
            self.posted.append("late")  # what a stopped handler must never reach
            return {"statusCode": 200}
        self.go.wait(10)
        return {"statusCode": 200, "body": name}


class Replies:
    def __init__(self) -> None:
        self.got: list[tuple[Any, ...]] = []

    def put(self, reply: tuple[Any, ...]) -> None:
        self.got.append(reply)


def test_an_aborted_invocation_stops_in_its_handler_and_sends_nothing_while_another_finishes():
    # GIVEN a looping invocation and another one in flight in the same process
    functions, running, replies = LoopingFunctions(), Running(), Replies()
    loop = threading.Thread(target=run_invocation, args=(functions, running, replies, 1, "loop", {}, "r1", 5.0))
    other = threading.Thread(target=run_invocation, args=(functions, running, replies, 2, "quick", {}, "r2", 5.0))
    loop.start()
    other.start()
    assert functions.looping.wait(10)
    # WHEN the gateway aborts the looping one (it timed out)
    assert running.interrupt(1)
    loop.join(10)
    # THEN its thread has left the handler without posting or replying
    assert not loop.is_alive()
    assert functions.posted == [] and replies.got == []
    # AND the other one still completes and replies
    functions.go.set()
    other.join(10)
    assert replies.got == [(2, True, {"statusCode": 200, "body": "quick"})]
    assert running.wait_empty(1)


def test_aborting_an_invocation_that_already_returned_changes_nothing():
    functions, running, replies = LoopingFunctions(), Running(), Replies()
    functions.go.set()
    run_invocation(functions, running, replies, 7, "quick", {}, "r7", 5.0)
    assert running.interrupt(7) is False
    assert replies.got == [(7, True, {"statusCode": 200, "body": "quick"})]


def test_an_invocation_aborted_while_queued_never_runs():
    # GIVEN an invocation the gateway timed out before a thread of the sandbox took it
    functions, running, replies = LoopingFunctions(), Running(), Replies()
    functions.go.set()
    assert running.interrupt(9) is False
    # WHEN a thread takes it
    run_invocation(functions, running, replies, 9, "loop", {}, "r9", 5.0)
    # THEN its handler never runs (it would loop forever here) and nothing is replied
    assert not functions.looping.is_set() and replies.got == []
