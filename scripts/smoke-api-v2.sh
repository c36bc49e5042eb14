#!/usr/bin/env bash
# Smoke test of the master: starts a real `gossipper ui` on 127.0.0.1 (free port, temp
# data dir) and checks health, login, 401 without a token, scenarios, RBAC (an operator
# gets 403 on /users and /audit), the built-in catalogue, the console at /, and jobs (a
# UAS and a UAC job on loopback, artifacts, events, /live, reports, stop).
# Needs curl and jq. Binary: $GOSSIPPER_BIN, else target/debug/gossipper.
# Exits non-zero on the first failed check.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=smoke-api-v2
# shellcheck source=scripts/smoke-lib.sh
. scripts/smoke-lib.sh

# Health
check "GET /healthz" 200 "$BASE/healthz"
[ "$BODY" = "ok" ] && pass "/healthz says ok" || fail "/healthz body: $BODY"
check "GET /api/v2/healthz" 200 "$API/healthz"
check "GET /api/v2/health" 200 "$API/health"
jcheck "health is ok with internal auth" '.status == "ok" and .auth == "internal"'

# Console
check "GET / (console)" 200 "$BASE/"
printf '%s' "$BODY" | grep -qi "gossipper console" && pass "console page served" || fail "console page: $BODY"

# Login and 401
check "no token → 401" 401 "$API/scenarios"
jcheck "401 has an error body" '.error | type == "string"'
check "bad password → 401" 401 -X POST "$API/auth/login" -d '{"username":"admin","password":"wrong-password"}'
check "login admin" 200 -X POST "$API/auth/login" -d '{"username":"admin","password":"sipcapture"}'
ADMIN="$(printf '%s' "$BODY" | jq -r .token)"
[ -n "$ADMIN" ] && [ "$ADMIN" != null ] && pass "got a token" || fail "no token"
AUTH=(-H "Authorization: Bearer $ADMIN")
check "GET /me" 200 "${AUTH[@]}" "$API/me"
jcheck "me is admin" '.username == "admin" and .role == "admin"'

# Scenarios
XML='<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="smoke">
  <send retrans="500"><![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: smoke <sip:smoke@[local_ip]:[local_port]>;tag=[call_number]
      To: sut <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>'
SCEN="$(jq -n --arg xml "$XML" '{id:"smoke", name:"Smoke", role:"client", xml:$xml}')"
check "create scenario" 201 "${AUTH[@]}" -X POST "$API/scenarios" -d "$SCEN"
check "list scenarios" 200 "${AUTH[@]}" "$API/scenarios"
jcheck "scenario listed" '[.scenarios[].id] | index("smoke") != null'
check "get scenario" 200 "${AUTH[@]}" "$API/scenarios/smoke"
jcheck "scenario xml round-trips" '.xml | contains("OPTIONS sip:")'
check "update scenario" 200 "${AUTH[@]}" -X PUT "$API/scenarios/smoke" -d "$(jq -n --arg xml "$XML" '{name:"Smoke 2", xml:$xml}')"
check "scenario history" 200 "${AUTH[@]}" "$API/scenarios/smoke/history"
jcheck "one archived version" '.history | length == 1'
check "invalid XML → 400" 400 "${AUTH[@]}" -X POST "$API/scenarios" -d '{"id":"bad","xml":"<scenario>\n<send>\n</scenario>"}'
jcheck "error names scenario.xml:line:col" '.error | test("^scenario\\.xml:[0-9]+:[0-9]+: ")'
check "traversal id → 400" 400 "${AUTH[@]}" -X POST "$API/scenarios" -d "$(jq -n --arg xml "$XML" '{id:"../x", xml:$xml}')"

# RBAC
check "create operator" 201 "${AUTH[@]}" -X POST "$API/users" -d '{"username":"smoke-op","password":"operator-pass"}'
jcheck "new users default to operator" '.role == "operator"'
check "login operator" 200 -X POST "$API/auth/login" -d '{"username":"smoke-op","password":"operator-pass"}'
OP=(-H "Authorization: Bearer $(printf '%s' "$BODY" | jq -r .token)")
check "operator GET /users → 403" 403 "${OP[@]}" "$API/users"
check "operator GET /audit → 403" 403 "${OP[@]}" "$API/audit"
check "operator rotate secret → 403" 403 "${OP[@]}" -X POST "$API/settings/rotate-jwt-secret"
check "operator GET /scenarios" 200 "${OP[@]}" "$API/scenarios"
check "admin GET /users" 200 "${AUTH[@]}" "$API/users"
check "admin GET /audit" 200 "${AUTH[@]}" "$API/audit"
jcheck "audit recorded the scenario" '[.audit[].action] | index("scenario.create") != null'

# Built-in catalogue: never empty, and it holds the uac and uas the jobs below run.
check "builtin catalogue" 200 "${OP[@]}" "$API/builtin-scenarios"
jcheck "catalogue shape" '.source == "builtin" and (.scenarios | type == "array")'
jcheck "catalogue holds uac and uas" '[.scenarios[].id] | index("uac") != null and index("uas") != null'
for ID in uac uas; do
  check "builtin $ID" 200 "${OP[@]}" "$API/builtin-scenarios/$ID"
  jcheck "builtin $ID has its xml" '.xml | contains("<scenario")'
done

# Settings
check "settings" 200 "${OP[@]}" "$API/settings"
jcheck "settings shows disk use" '.disk_usage_bytes > 0'

# Jobs: a UAS job and a UAC job on loopback, the client completes its calls; the
# server is stopped through its profile; live frame, events stream, artifacts, reports.
PORT="$(( 20000 + RANDOM % 20000 ))"
check "create server profile" 201 "${AUTH[@]}" -X POST "$API/servers" -d "{\"id\":\"smoke-uas\",\"scenario_ref\":\"uas\",\"transports\":[{\"transport\":\"u1\",\"local_ip\":\"127.0.0.1\",\"local_port\":$PORT,\"enabled\":true}]}"
check "create client profile" 201 "${AUTH[@]}" -X POST "$API/clients" -d "{\"id\":\"smoke-uac\",\"scenario_ref\":\"uac\",\"remote_ip\":\"127.0.0.1\",\"remote_port\":$PORT,\"rate\":100,\"transports\":[{\"transport\":\"u1\",\"local_ip\":\"127.0.0.1\",\"enabled\":true}]}"
check "unknown override key → 400" 400 "${AUTH[@]}" -X POST "$API/jobs" -d '{"profile_id":"smoke-uac","profile_kind":"client","engine":{"rtae":1}}'
check "start server job" 201 "${AUTH[@]}" -X POST "$API/servers/smoke-uas/start"
SJOB="$(printf '%s' "$BODY" | jq -r .id)"
# The server's socket is bound once its worker has written a stats line.
SERVER_UP=""
for _ in $(seq 1 100); do
  grep -q '"kind":"stats"' "$DATA/artifacts/jobs/$SJOB/stats.jsonl" 2>/dev/null && { SERVER_UP=1; break; }
  sleep 0.1
done
[ -n "$SERVER_UP" ] && pass "server job wrote a stats line" || fail "no stats line from the server job within 10 s"
check "start client job (100 calls)" 201 "${AUTH[@]}" -X POST "$API/clients/smoke-uac/start" -d '{"engine":{"total_calls":100}}'
CJOB="$(printf '%s' "$BODY" | jq -r .id)"
STATUS=""
for _ in $(seq 1 300); do
  STATUS="$(curl -sS "${AUTH[@]}" "$API/jobs/$CJOB" | jq -r .job.status)"
  case "$STATUS" in succeeded|failed|stopped) break ;; esac
  sleep 0.1
done
[ "$STATUS" = succeeded ] && pass "client job succeeded" || fail "client job ended $STATUS"
check "client summary" 200 "${AUTH[@]}" "$API/jobs/$CJOB/artifacts/summary"
jcheck "100 calls succeeded" '.success_calls == 100 and .failed_calls == 0'
check "client report.html" 200 "${AUTH[@]}" "$API/jobs/$CJOB/artifacts/report_html"
printf '%s' "$BODY" | grep -q '<svg' && pass "report has charts" || fail "report.html has no chart"
check "events stream (ndjson)" 200 "${AUTH[@]}" "$API/jobs/$CJOB/events?follow=false"
printf '%s' "$BODY" | head -n1 | jq -e '.kind == "started"' >/dev/null && pass "events start with started" || fail "events: $BODY"
printf '%s' "$BODY" | grep -q '"kind":"stats"' && pass "events carry stats lines" || fail "no stats line in events"
check "live (plain JSON)" 200 "${AUTH[@]}" "$API/live"
jcheck "live counts one running server" '.counts.running == 1'
check "reports" 200 "${AUTH[@]}" "$API/reports"
jcheck "client summary is a report" "[.reports[].job_id] | index(\"$CJOB\") != null"
check "stop server through its profile" 200 "${AUTH[@]}" -X POST "$API/servers/smoke-uas/stop"
jcheck "server job stopping (stopped once its worker exits)" '.status == "stopping" or .status == "stopped"'
for _ in $(seq 1 200); do
  STATUS="$(curl -sS "${AUTH[@]}" "$API/jobs/$SJOB" | jq -r '.job.finished_at // empty')"
  [ -n "$STATUS" ] && break
  sleep 0.1
done
[ -n "$STATUS" ] && pass "server worker ended" || fail "server worker still running"
check "server job after its worker ended" 200 "${AUTH[@]}" "$API/jobs/$SJOB"
jcheck "server job stopped" '.job.status == "stopped"'
check "load-test catalogue" 200 "${OP[@]}" "$API/load-test"
jcheck "load-test defaults" '.defaults.scenario_id == "invite_media"'
check "tools catalogue" 200 "${OP[@]}" "$API/tools"
jcheck "report-html tool listed" '[.tools[].id] | index("report-html") != null'
jcheck "pcap2scenario tool available" '[.tools[] | select(.id == "pcap2scenario") | .available] == [true]'

smoke_finish
