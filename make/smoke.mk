# `make smoke` (issue 12): two real clients chat through a deployed (or local) API. Thin wrapper over
# tools/smoke.py, which works without make. Settings travel as environment variables (make passes its
# command-line variables on), so no value given here is pasted into the shell command:
#   make smoke ENV=dev                                   (terraform outputs, tfvars, the secret in SSM)
#   JWT_SECRET=... make smoke WSS_URL=ws://127.0.0.1:8080/dev CONNECTIONS_TABLE=wschat-dev-connections
.PHONY: smoke

smoke: venv ## After an apply: two clients chat through the deployed API (ENV=dev, or WSS_URL=... CONNECTIONS_TABLE=...)
	@$(PY) tools/smoke.py
