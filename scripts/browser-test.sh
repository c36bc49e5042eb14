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

DATA="$(mktemp -d "${TMPDIR:-/tmp}/gossipper-browser.XXXXXX")"
LOG="$DATA.log"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA" "$LOG"
}
trap cleanup EXIT

# Created here, not by the redirect below: that runs in the forked child, and on a loaded
# machine the loop's first sed could look before the child had opened it.
: >"$LOG"
env -u GOSSIPPER_BOOTSTRAP_USERNAME -u GOSSIPPER_BOOTSTRAP_PASSWORD -u GOSSIPPER_JWT_SECRET \
  "$BIN" ui --data-dir "$DATA" --listen 127.0.0.1:0 2>"$LOG" &
PID=$!

ADDR=""
for _ in $(seq 1 300); do
  ADDR="$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$LOG" | head -n1)"
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { echo "browser-test: gossipper ui exited:" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "browser-test: gossipper ui did not start" >&2; cat "$LOG" >&2; exit 1; }

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
