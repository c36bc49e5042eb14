#!/usr/bin/env bash
# Renders kamailio-webrtc.cfg.in and starts Kamailio as the WebRTC gateway (issue #16).
#
#   tests/webrtc/kamailio.sh start DIR UDP_PORT WS_PORT WSS_PORT PLAIN_URI [RTPENGINE_NG]
#   tests/webrtc/kamailio.sh stop DIR
#
# DIR receives the self-signed certificate, kamailio.cfg, kamailio.pid and kamailio.log.
# `start` checks the config (-c) first, then waits (bounded: 10 s) for the WSS port to
# listen and the log to say the children started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: kamailio.sh start|stop DIR ...}
dir=${2:?DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

case "$cmd" in
start)
    udp=${3:?UDP_PORT} ws=${4:?WS_PORT} wss=${5:?WSS_PORT} plain=${6:?PLAIN_URI} ng=${7:-127.0.0.1:22222}
    if [[ ! -f "$dir/tls.key" ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
            -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
    fi
    sed -e "s|@UDP_PORT@|$udp|g" -e "s|@WS_PORT@|$ws|g" -e "s|@WSS_PORT@|$wss|g" \
        -e "s|@PLAIN_URI@|$plain|g" -e "s|@RTPENGINE_NG@|$ng|g" \
        -e "s|@TLS_CERT@|$dir/tls.crt|g" -e "s|@TLS_KEY@|$dir/tls.key|g" \
        "$here/kamailio-webrtc.cfg.in" >"$dir/kamailio.cfg"
    kamailio -c -f "$dir/kamailio.cfg" >"$dir/kamailio-check.log" 2>&1 || {
        echo "kamailio config check failed:" >&2
        cat "$dir/kamailio-check.log" >&2
        exit 1
    }
    kamailio -DD -E -f "$dir/kamailio.cfg" >"$dir/kamailio.log" 2>&1 &
    echo $! >"$dir/kamailio.pid"
    for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$wss") 2>/dev/null; then
            echo "kamailio ready: udp $udp, ws $ws, wss $wss -> $plain (pid $(cat "$dir/kamailio.pid"))"
            exit 0
        fi
        if ! kill -0 "$(cat "$dir/kamailio.pid")" 2>/dev/null; then break; fi
        sleep 0.2
    done
    echo "kamailio did not listen on $wss; log:" >&2
    tail -40 "$dir/kamailio.log" >&2
    exit 1
    ;;
stop)
    if [[ -f "$dir/kamailio.pid" ]]; then
        kill "$(cat "$dir/kamailio.pid")" 2>/dev/null || true
        rm -f "$dir/kamailio.pid"
    fi
    ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
