#!/usr/bin/env bash
# checkov over terraform/, offline, from its own pinned virtualenv (.venv-checkov, bootstrapped
# from requirements/checkov.txt; re-installed only when that file changes). Skipped checks are
# inline `#checkov:skip=<id>:<reason>` comments next to the resource, each listed and justified in
# docs/terraform.md. Extra args go to checkov. Works without make: `tools/checkov.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-checkov
tools/tool_venv.sh "$VENV" requirements/checkov.txt
# --skip-download: no Bridgecrew/Prisma platform calls, no guideline download (we are offline).
exec "$VENV/bin/checkov" --directory terraform --framework terraform --skip-download \
  --download-external-modules false --compact --quiet "$@"
