#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: unit, terraform (structure, fmt, checkov)
# and end-to-end tests against the local stack. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
PY=.venv/bin/python
$PY -m ruff check .
set +e
$PY -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "tools/test.sh: no tests were collected: failing" >&2; exit 1; fi
[ "$rc" -eq 0 ] || exit "$rc"
for extra in tools/test.d/*.sh; do
  [ -e "$extra" ] || continue
  echo "== $extra" >&2
  bash "$extra"
done
