#!/usr/bin/env bash
# checkov over terraform/, offline, from its own pinned virtualenv (.venv-checkov, bootstrapped
# from requirements/checkov.txt; re-installed only when that file changes). Skipped checks are
# inline `#checkov:skip=<id>:<reason>` comments next to the resource, each listed and justified in
# docs/terraform.md. Extra args go to checkov. Works without make: `tools/checkov.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-checkov
LOCK=requirements/checkov.txt
want=$(sha256sum "$LOCK" | cut -c1-16)
if [ ! -f "$VENV/.installed-$want" ]; then
  PY=${PYTHON:-}
  for candidate in "${PY}" python3.11 python3.12 python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && { PY=$candidate; break; }
  done
  [ -x "$VENV/bin/python" ] || { echo "checkov: creating $VENV" >&2; "$PY" -m venv "$VENV"; }
  echo "checkov: installing pinned $LOCK into $VENV" >&2
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$LOCK" >"$VENV/pip-install.log" 2>&1; then
    tail -30 "$VENV/pip-install.log" >&2
    echo "checkov: pip install failed (full log: $VENV/pip-install.log)" >&2
    exit 1
  fi
  rm -f "$VENV"/.installed-*
  touch "$VENV/.installed-$want"
fi
# --skip-download: no Bridgecrew/Prisma platform calls, no guideline download (we are offline).
exec "$VENV/bin/checkov" --directory terraform --framework terraform --skip-download \
  --download-external-modules false --compact --quiet "$@"
