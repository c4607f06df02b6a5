# Load/soak test through the local stack (issue 7). Thin wrappers over `python -m loadtest`, which also
# works without make (`python -m loadtest --help`). Loopback only; bounded; report in build/load/.
LOAD_ARGS ?=

.PHONY: load load-quick load-ceiling

load: venv ## Load/soak with chaos: 1,000 clients in 100 rooms, 111 msg/s offered for 60 s, worker kill, DynamoDB pause, 5xx, reconnects
	@$(PY) -m loadtest --interval 9 --chaos $(LOAD_ARGS)

load-quick: venv ## Smaller load run with the same chaos (100 clients, 111 msg/s offered, 20 s); same verdict and report
	@$(PY) -m loadtest --clients 100 --rooms 20 --duration 20 --interval 0.9 --chaos $(LOAD_ARGS)

load-ceiling: venv ## The stack's ceiling: 100 clients, 20 rooms, no chaos, 10-200 msg/s offered in 15 s steps; CPU by process group names the bottleneck
	@$(PY) -m loadtest --clients 100 --rooms 20 --duration 15 --ceiling $(LOAD_ARGS)
