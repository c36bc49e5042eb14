#!/usr/bin/env bash
# Installs (if needed) and starts rtpengine in userspace on loopback, with its ng control
# protocol on UDP, for the WebRTC gateway tests (issue #16, phase B wires it in).
#
#   tests/webrtc/rtpengine.sh start DIR [NG_PORT] [PORT_MIN] [PORT_MAX] [CLI_PORT]
#   tests/webrtc/rtpengine.sh stop DIR
#
# DIR receives rtpengine.pid and rtpengine.log. --table=-1 means no kernel forwarding, so
# no kernel module is needed; everything is forwarded in userspace. `start` returns once
# an ng "ping" is answered with "pong" (bounded: 10 s), and fails with the log otherwise.
set -euo pipefail

cmd=${1:?usage: rtpengine.sh start|stop DIR [NG_PORT] [PORT_MIN] [PORT_MAX]}
dir=${2:?DIR}
ng_port=${3:-22222}
port_min=${4:-30000}
port_max=${5:-30999}
cli_port=${6:-2224}
mkdir -p "$dir"

ng_ping() {
    python3 - "$ng_port" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.sendto(b"c1 d7:command4:pinge", ("127.0.0.1", int(sys.argv[1])))
try:
    data, _ = s.recvfrom(4096)
except OSError:
    sys.exit(1)
sys.exit(0 if data == b"c1 d6:result4:ponge" else 1)
PY
}

case "$cmd" in
start)
    if ! command -v rtpengine >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rtpengine-daemon >/dev/null
    fi
    rtpengine --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$ng_port" \
        --port-min="$port_min" --port-max="$port_max" --listen-cli="127.0.0.1:$cli_port" \
        --foreground --log-stderr \
        --log-level=6 --pidfile="$dir/rtpengine.pid" --delete-delay=0 \
        >"$dir/rtpengine.log" 2>&1 &
    echo $! >"$dir/rtpengine.pid"
    for _ in $(seq 1 50); do
        if ng_ping; then
            echo "rtpengine ready: ng on 127.0.0.1:$ng_port, media ports $port_min-$port_max (pid $(cat "$dir/rtpengine.pid"))"
            exit 0
        fi
        if ! kill -0 "$(cat "$dir/rtpengine.pid")" 2>/dev/null; then break; fi
        sleep 0.2
    done
    echo "rtpengine did not answer an ng ping; log:" >&2
    cat "$dir/rtpengine.log" >&2
    exit 1
    ;;
stop)
    if [[ -f "$dir/rtpengine.pid" ]]; then
        kill "$(cat "$dir/rtpengine.pid")" 2>/dev/null || true
        rm -f "$dir/rtpengine.pid"
    fi
    ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
