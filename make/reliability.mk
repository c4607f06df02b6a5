# Repeat runs of the test suite to find flaky tests (issue 15): tools/test_repeat.py, also usable
# without make. N runs, each in a fresh clone of HEAD; CPU_LOAD=1 keeps every core busy meanwhile.
N ?= 5
SUITES ?= all
CPU_LOAD ?=

.PHONY: test-repeat

test-repeat: venv ## Run the suite N times in fresh clones of HEAD (N=5 SUITES=all|fast CPU_LOAD=1): failures per run
	@$(PY) tools/test_repeat.py --runs $(N) --suites $(SUITES) $(if $(CPU_LOAD),--cpu-load,)
