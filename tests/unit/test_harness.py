"""The harness the bench and the load test share: one percentile, one file-limit raiser, one launcher
that reports a stack process that died before it was ready (naming its log), without polling."""

from __future__ import annotations

import resource

import pytest

from harness.limits import raise_nofile
from harness.stack_process import StackProcess
from harness.stats import percentile


@pytest.mark.parametrize(("values", "q", "expected"), [
    (list(range(1, 11)), 50, 5),  # nearest rank: the bench once said 6 here and the load test 5
    (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 100, 100),
    ([3.0], 1, 3.0),
    ([5, 1, 4, 2, 3], 50, 3),
    ([], 50, None),
])
def test_percentile_is_the_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_raise_nofile_lifts_the_soft_limit_to_the_hard_limit():
    soft = raise_nofile()
    current, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == current and (hard == resource.RLIM_INFINITY or current == hard)


def test_a_stack_process_that_dies_before_it_is_ready_is_reported_with_its_log(tmp_path):
    # GIVEN a stack server that cannot start (an unknown DynamoDB mode)
    stack = StackProcess(dynamodb="nonsense", log_path=tmp_path / "stack.log")
    # WHEN it is started / THEN the start fails at once, naming the log, and leaves no process behind
    with pytest.raises(RuntimeError, match=r"exited with \d+ before it was ready; see .*stack.log"):
        stack.start(timeout=60)
    assert stack.proc is None
    assert "dynamodb mode must be auto, local or moto" in (tmp_path / "stack.log").read_text()
