# Load/soak test through the local stack (issue 7). Thin wrappers over `python -m loadtest`, which also
# works without make (`python -m loadtest --help`). Loopback only; bounded; report in build/load/.
LOAD_ARGS ?=

.PHONY: load load-quick

load: venv ## Load/soak: 1,000 clients in 100 rooms for 60 s, reconnects, 1% injected 429s; fails on loss/dups
	@$(PY) -m loadtest $(LOAD_ARGS)

load-quick: venv ## Smaller load run (100 clients, 20 s) for a quick check; same verdict and report
	@$(PY) -m loadtest --clients 100 --rooms 20 --duration 20 --interval 10 $(LOAD_ARGS)
