# Thin wrappers over scripts in tools/ (each also works without make). `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
ARCH ?= $(or $(LAMBDA_ARCHITECTURE),arm64)

.PHONY: help venv lock build test unit check lint clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | sort -u | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}'

venv: ## Create/refresh .venv from the pinned requirements/dev.txt
	@tools/bootstrap.sh

lock: ## Re-resolve requirements/dev.in into the fully pinned requirements/dev.txt
	@tools/lock.sh

build: venv ## Build deterministic function zips, build/layer.zip and build/crypto-layer-$(ARCH).zip (ARCH=arm64|x86_64)
	@$(if $(call one_of,$(ARCH),arm64 x86_64),,$(error ARCH must be arm64 or x86_64))$(PY) tools/build.py --architecture $(ARCH)

test: ## Run every test suite (bootstraps .venv, tools, browser): the README's test command
	@tools/test.sh

unit: venv ## Run only the unit tests (fast)
	@$(PY) -m pytest tests/unit -q

lint: venv ## ruff over the code
	@$(PY) -m ruff check .

check: test ## Everything CI runs

clean: ## Remove build outputs (keeps virtualenvs)
	rm -rf build

-include make/*.mk
