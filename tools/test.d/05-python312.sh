#!/usr/bin/env bash
# The functions target Lambda's python3.12 runtime while we develop on 3.11: byte-compile the
# shipped code (shared/ + functions/) with a 3.12 interpreter so 3.12-only syntax errors or removed
# stdlib modules fail here, not in Lambda. Skipped (loudly) when no python3.12 is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
find_py312() {
  for candidate in "${PYTHON312:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
      echo "$candidate"; return
    fi
  done
}
py312=$(find_py312)
if [ -z "$py312" ]; then
  echo "SKIPPED: python3.12 not found; set PYTHON312=/path/to/python3.12 to check the Lambda target" >&2
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp -r shared functions "$out/"
"$py312" -W error -m compileall -q "$out/shared" "$out/functions"
echo "python3.12 compiles shared/ and functions/ ($("$py312" --version))"
