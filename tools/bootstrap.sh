#!/usr/bin/env bash
# Creates or refreshes .venv (or $VENV) from the pinned requirements/dev.txt; re-installs only when
# the lock file changed. Works without make: `tools/bootstrap.sh`. PYTHON=... picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/tool_venv.sh "${VENV:-.venv}" requirements/dev.txt
