#!/usr/bin/env bash
# Creates or refreshes a virtualenv from its fully pinned lock file, re-installing only when that file
# changed (stamp = its sha256). The project's .venv (tools/bootstrap.sh) and the tools whose pins clash
# with it, in their own:
#   tools/tool_venv.sh .venv requirements/dev.txt
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
  [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
  "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || continue
  PY=$candidate; break
done
[ -n "$PY" ] || { echo "tool_venv: need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { echo "tool_venv: creating $VENV" >&2; "$PY" -m venv "$VENV"; }
echo "tool_venv: installing pinned $LOCK into $VENV" >&2
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$LOCK" >"$VENV/pip-install.log" 2>&1; then
  grep -v "is ignored: it is neither" "$VENV/pip-install.log" | tail -30 >&2
  echo "tool_venv: pip install failed (full log: $VENV/pip-install.log)" >&2
  exit 1
fi
rm -f "$VENV"/.installed-*
touch "$VENV/.installed-$want"
