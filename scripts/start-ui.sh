# Sourced, not run: starts a real `gossipper ui` from $BIN on a free loopback port with a
# fresh temp data dir (both removed on exit) and waits until it listens. The caller sets
# BIN and NAME (its name in messages). Afterwards: $ADDR (host:port), $LOG (the master's
# stderr), $DATA and $PID.

DATA="$(mktemp -d "${TMPDIR:-/tmp}/gossipper-$NAME.XXXXXX")"
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
  kill -0 "$PID" 2>/dev/null || { echo "$NAME: gossipper ui exited:" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "$NAME: gossipper ui did not start" >&2; cat "$LOG" >&2; exit 1; }
