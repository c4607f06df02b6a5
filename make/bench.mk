# Benchmarks (issue 6): thin wrappers over `python -m bench` (works without make; see bench/__init__.py
# and docs/benchmarks.md). Both bootstrap .venv, the pinned npm tools and the zips first.
.PHONY: bench bench-quick

bench: venv ## Benchmarks (22 min in the last run, 2 heavily shared cores): table + build/bench/results.json + bench.png
	@tools/install_node_tools.sh >/dev/null
	@$(PY) tools/build.py >/dev/null
	@time $(PY) -m bench $(BENCH_ARGS)

bench-quick: venv ## Benchmarks at small N (100/250/500; < 3 min): outputs under build/bench/quick/
	@tools/install_node_tools.sh >/dev/null
	@$(PY) tools/build.py >/dev/null
	@time $(PY) -m bench --quick $(BENCH_ARGS)
