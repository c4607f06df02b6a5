#!/usr/bin/env bash
# Creates or refreshes .venv from the pinned requirements/dev.txt. Re-installs only when the
# lock file changed (stamp = its sha256). Works without make: `tools/bootstrap.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
LOCK=requirements/dev.txt
want=$(sha256sum "$LOCK" | cut -c1-16)
stamp="$VENV/.installed-$want"
[ -f "$stamp" ] && exit 0

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "bootstrap: need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  py=$(pick_python)
  echo "bootstrap: creating $VENV with $("$py" --version 2>&1)" >&2
  "$py" -m venv "$VENV"
fi
echo "bootstrap: installing pinned dependencies from $LOCK" >&2
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$LOCK" >"$VENV/pip-install.log" 2>&1; then
  grep -v "is ignored: it is neither" "$VENV/pip-install.log" | tail -40 >&2
  echo "bootstrap: pip install failed (full log: $VENV/pip-install.log)" >&2
  exit 1
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
