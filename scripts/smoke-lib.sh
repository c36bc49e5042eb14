# Shared by the smoke scripts (sourced, not run): starts a real `gossipper ui` on
# 127.0.0.1 (free port, temp data dir, removed on exit) and gives the check helpers.
# The caller sets SMOKE (its name in messages) before sourcing. Afterwards: $BASE and
# $API, pass/fail/check/jcheck, and smoke_finish to end with the right exit code.

BIN="${GOSSIPPER_BIN:-target/debug/gossipper}"
command -v curl >/dev/null || { echo "$SMOKE: curl is required" >&2; exit 1; }
command -v jq >/dev/null || { echo "$SMOKE: jq is required" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$SMOKE: $BIN not found; build it first (cargo build -p gossipper)" >&2; exit 1; }

NAME="$SMOKE"
# shellcheck source=scripts/start-ui.sh
. scripts/start-ui.sh
BASE="http://$ADDR"
API="$BASE/api/v2"

fails=0
pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1" >&2; fails=$((fails + 1)); }
# check NAME WANT_STATUS curl-args... ; the body is left in $BODY
check() {
  local name="$1" want="$2"; shift 2
  local out status
  out="$(curl -sS -w '\n%{http_code}' "$@")" || { fail "$name (curl failed)"; BODY=""; return; }
  status="${out##*$'\n'}"
  BODY="${out%$'\n'*}"
  if [ "$status" = "$want" ]; then pass "$name ($status)"; else fail "$name: got $status, want $want: $BODY"; fi
}
jcheck() { # NAME JQ_FILTER (on $BODY, must print true)
  if [ "$(printf '%s' "$BODY" | jq -r "$2" 2>/dev/null)" = "true" ]; then pass "$1"; else fail "$1: $BODY"; fi
}

# Ends the script: non-zero with the master's log when a check failed.
smoke_finish() {
  if [ "$fails" -gt 0 ]; then
    echo "$SMOKE: $fails check(s) failed" >&2
    echo "--- gossipper ui log ---" >&2; cat "$LOG" >&2
    exit 1
  fi
  echo "$SMOKE: all checks passed"
}
