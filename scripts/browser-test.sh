#!/usr/bin/env bash
# End-to-end tests of the web console in headless Chromium.
#
# Installs Debian `chromium` if it is missing and the npm dependencies of tests/browser
# (`npm ci`, playwright-core only; no browser download), then starts a fresh
# `gossipper ui` on a free loopback port with a fresh temp data dir, runs every test in
# tests/browser/tests/, and saves screenshots of each page to tests/browser/screenshots/.
# Builds nothing: it uses $GOSSIPPER_BIN, else target/debug/gossipper
# (cargo build -p gossipper); the tests of `gossipper server` (server.test.mjs) start
# their own server from it, and SIPp (`sipp`) and `tshark`. Exits non-zero on any failure.
# Usage: scripts/browser-test.sh [test-name-filter]
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${GOSSIPPER_BIN:-$PWD/target/debug/gossipper}"
[ -x "$BIN" ] || { echo "browser-test: $BIN not found; build it first (cargo build -p gossipper)" >&2; exit 1; }

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "== installing Debian chromium"
  if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || { echo "browser-test: node (20+) is required" >&2; exit 1; }

echo "== npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

NAME=browser-test
# shellcheck source=scripts/start-ui.sh
. scripts/start-ui.sh

mkdir -p tests/browser/screenshots
rc=0
BASE_URL="http://$ADDR" GOSSIPPER_BIN="$BIN" CHROMIUM="$CHROMIUM" SCREENSHOT_DIR="$PWD/tests/browser/screenshots" \
  node tests/browser/run.mjs "${1:-}" || rc=$?
if [ "$rc" != 0 ]; then
  echo "browser-test: failed; the master's log follows" >&2
  tail -n 60 "$LOG" >&2 || true
fi
echo "screenshots: tests/browser/screenshots/"
exit "$rc"
