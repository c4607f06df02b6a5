#!/usr/bin/env bash
# Makes /usr/bin/chromium available for the browser e2e tests (Debian's package; `playwright install`
# cannot download here). Exit 0 when chromium is usable, 1 (with a LOUD message) when it cannot be.
set -uo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "!!!!! install_chromium: $CHROMIUM missing and not root: cannot apt-get install chromium !!!!!" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "!!!!! install_chromium: $CHROMIUM missing and no apt-get on this machine !!!!!" >&2
  exit 1
fi
echo "install_chromium: apt-get install -y chromium" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/tmp/install_chromium.log 2>&1; then
  tail -20 /tmp/install_chromium.log >&2
  echo "!!!!! install_chromium: apt-get install chromium FAILED (log: /tmp/install_chromium.log) !!!!!" >&2
  exit 1
fi
[ -x "$CHROMIUM" ]
