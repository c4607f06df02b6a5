#!/usr/bin/env bash
# checkov must pass on terraform/ (bootstraps .venv-checkov from requirements/checkov.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/checkov.sh
