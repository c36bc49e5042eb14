#!/usr/bin/env bash
# WebRTC smoke test (issue 16): a real `gossipper ui` on 127.0.0.1 (free port, temp data
# dir), a server profile whose webrtc row runs webrtc_uas, a client profile (a u1 row
# next to a webrtc row) whose job runs webrtc_uac against it, then both jobs'
# call_records.jsonl checked with jq: offer created and answer accepted (client), offer
# accepted and answer created (server), ICE and DTLS connected, SRTP packets and audio
# frames sent and received on both sides, and summary.json's webrtc block.
# Needs curl and jq. Binary: $GOSSIPPER_BIN, else target/debug/gossipper.
# Exits non-zero when any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=smoke-webrtc
# shellcheck source=scripts/smoke-lib.sh
. scripts/smoke-lib.sh
# records_check NAME JQ_FILTER: every line of $BODY (JSON lines) must pass the filter
records_check() {
  if [ "$(printf '%s' "$BODY" | jq -s "length > 0 and all(.[]; $2)" 2>/dev/null)" = "true" ]; then
    pass "$1"
  else
    fail "$1: $(printf '%s' "$BODY" | head -c 2000)"
  fi
}
wait_finished() { # JOB → leaves its status in $STATUS
  STATUS=""
  for _ in $(seq 1 600); do
    STATUS="$(curl -sS "${AUTH[@]}" "$API/jobs/$1" | jq -r 'if .job.finished_at then .job.status else empty end')"
    [ -n "$STATUS" ] && break
    sleep 0.1
  done
}

check "login admin" 200 -X POST "$API/auth/login" -d '{"username":"admin","password":"sipcapture"}'
AUTH=(-H "Authorization: Bearer $(printf '%s' "$BODY" | jq -r .token)")

check "built-in webrtc_uac listed" 200 "${AUTH[@]}" "$API/builtin-scenarios/webrtc_uac"
jcheck "webrtc_uac is a WebRTC client scenario" '.meta.role == "client" and (.xml | contains("webrtc=\"true\""))'
check "built-in webrtc_uas listed" 200 "${AUTH[@]}" "$API/builtin-scenarios/webrtc_uas"
jcheck "webrtc_uas is a WebRTC server scenario" '.meta.role == "server" and (.xml | contains("[webrtc_answer]"))'

PORT="$(( 20000 + RANDOM % 20000 ))"
CALLS=10
check "server profile with a webrtc row" 201 "${AUTH[@]}" -X POST "$API/servers" -d "{\"id\":\"smoke-wuas\",\"scenario_ref\":\"webrtc_uas\",\"transports\":[{\"transport\":\"webrtc\",\"local_ip\":\"127.0.0.1\",\"local_port\":$PORT,\"enabled\":true}]}"
check "client profile with u1 and webrtc rows" 201 "${AUTH[@]}" -X POST "$API/clients" -d "{\"id\":\"smoke-wuac\",\"scenario_ref\":\"webrtc_uac\",\"remote_ip\":\"127.0.0.1\",\"remote_port\":$PORT,\"rate\":10,\"transports\":[{\"transport\":\"u1\",\"local_ip\":\"127.0.0.1\",\"enabled\":true},{\"transport\":\"webrtc\",\"local_ip\":\"127.0.0.1\",\"enabled\":true}]}"
check "start server job" 201 "${AUTH[@]}" -X POST "$API/servers/smoke-wuas/start"
SJOB="$(printf '%s' "$BODY" | jq -r .id)"
SERVER_UP=""
for _ in $(seq 1 100); do
  grep -q '"kind":"stats"' "$DATA/artifacts/jobs/$SJOB/stats.jsonl" 2>/dev/null && { SERVER_UP=1; break; }
  sleep 0.1
done
[ -n "$SERVER_UP" ] && pass "server job wrote a stats line" || fail "no stats line from the server job within 10 s"

check "start client job ($CALLS calls of 1.5 s)" 201 "${AUTH[@]}" -X POST "$API/clients/smoke-wuac/start" -d "{\"engine\":{\"total_calls\":$CALLS,\"call_duration_ms\":1500}}"
CJOB="$(printf '%s' "$BODY" | jq -r .id)"
wait_finished "$CJOB"
[ "$STATUS" = succeeded ] && pass "client job succeeded" || fail "client job ended '$STATUS'"
check "client summary" 200 "${AUTH[@]}" "$API/jobs/$CJOB/artifacts/summary"
jcheck "client: $CALLS calls succeeded, all connected, no WebRTC failure" \
  ".success_calls == $CALLS and .failed_calls == 0 and .webrtc.calls == $CALLS and .webrtc.connected == $CALLS and (.webrtc.failures | length) == 0"
check "client call records" 200 "${AUTH[@]}" "$API/jobs/$CJOB/artifacts/call_records"
[ "$(printf '%s' "$BODY" | wc -l)" -eq "$CALLS" ] && pass "client: $CALLS records" || fail "client: $(printf '%s' "$BODY" | wc -l) records"
records_check "client: offer created, answer accepted" '.success and .webrtc.offer_created and .webrtc.answer_accepted'
records_check "client: ICE then DTLS connected" '.webrtc.ice_connected_ms != null and .webrtc.dtls_connected_ms >= .webrtc.ice_connected_ms and .webrtc.failure == null'
records_check "client: SRTP and audio sent and received" '.webrtc.srtp_packets_sent > 0 and .webrtc.srtp_packets_received > 0 and .webrtc.rtp_packets_sent > 0 and .webrtc.rtp_packets_received > 0'

check "stop server through its profile" 200 "${AUTH[@]}" -X POST "$API/servers/smoke-wuas/stop"
wait_finished "$SJOB"
[ -n "$STATUS" ] && pass "server worker ended ($STATUS)" || fail "server worker still running"
check "server summary" 200 "${AUTH[@]}" "$API/jobs/$SJOB/artifacts/summary"
jcheck "server: $CALLS calls answered and connected" ".success_calls == $CALLS and .webrtc.connected == $CALLS and (.webrtc.failures | length) == 0"
check "server call records" 200 "${AUTH[@]}" "$API/jobs/$SJOB/artifacts/call_records"
records_check "server: offer accepted, answer created" '.success and .webrtc.offer_accepted and .webrtc.answer_created'
records_check "server: SRTP and audio sent and received" '.webrtc.dtls_connected_ms != null and .webrtc.srtp_packets_sent > 0 and .webrtc.srtp_packets_received > 0 and .webrtc.rtp_packets_sent > 0 and .webrtc.rtp_packets_received > 0'

smoke_finish
