#!/usr/bin/env bash
# Creates or refreshes a tool's own virtualenv from its fully pinned lock file, re-installing only
# when that file changed (stamp = its sha256). Tools whose pins clash with .venv live apart:
#   tools/tool_venv.sh .venv-checkov requirements/checkov.txt
#   tools/tool_venv.sh .venv-moto requirements/moto.txt
# Prints nothing when the virtualenv is current; the venv's python is <venv>/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:?usage: tools/tool_venv.sh <venv dir> <lock file>}
LOCK=${2:?usage: tools/tool_venv.sh <venv dir> <lock file>}
want=$(sha256sum "$LOCK" | cut -c1-16)
[ -f "$VENV/.installed-$want" ] && exit 0
PY=""
for candidate in "${PYTHON:-}" python3.11 python3.12 python3; do
  [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && { PY=$candidate; break; }
done
[ -n "$PY" ] || { echo "tool_venv: no python3 found (set PYTHON=...)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { echo "tool_venv: creating $VENV" >&2; "$PY" -m venv "$VENV"; }
echo "tool_venv: installing pinned $LOCK into $VENV" >&2
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$LOCK" >"$VENV/pip-install.log" 2>&1; then
  grep -v "is ignored: it is neither" "$VENV/pip-install.log" | tail -30 >&2
  echo "tool_venv: pip install failed (full log: $VENV/pip-install.log)" >&2
  exit 1
fi
rm -f "$VENV"/.installed-*
touch "$VENV/.installed-$want"
