#!/bin/bash
# CPU-µs per call of each role, with context switches and system calls per call:
# built-in uac -> built-in uas on 127.0.0.1, each process pinned to its own core,
# measured over 4 s of steady state from /proc/<pid>/stat and `perf stat`.
#
#   perf/cpu_per_call.sh [RATE] [extra gossipper flags, given to both roles]
#   perf/cpu_per_call.sh 10000
#   perf/cpu_per_call.sh 10000 -t t1
#
# GOSSIPPER=path picks the binary (default target/release/gossipper);
# PAUSE_BUILDS=1 stops running rustc/cc/ld with SIGSTOP while measuring and resumes
# them after (a concurrent build halves every figure). Needs `perf` and `taskset`.
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GOSSIPPER:-$PWD/target/release/gossipper}
RATE=${1:-10000}
shift || true
[ -x "$G" ] || { echo "build first: cargo build --release -p gossipper" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is required (apt-get install linux-perf)" >&2; exit 2; }
W=$(mktemp -d)
SP=; CP=
# pkill exits 1 when nothing matches; under `set -e` that must not end the script.
pause() {
    [ "${PAUSE_BUILDS:-0}" = 1 ] || return 0
    for p in rustc cc ld; do pkill "-$1" -x "$p" || true; done
}
cleanup() { pause CONT; [ -n "$CP" ] && kill "$CP" 2>/dev/null; [ -n "$SP" ] && kill "$SP" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
pause STOP
sleep 0.3
taskset -c 1 "$G" -sn uas -i 127.0.0.1 -p 15160 -shards 1 "$@" >/dev/null 2>&1 </dev/null & SP=$!
sleep 0.4
# Bounded: RATE*15 calls (~15 s); the measurement takes 4 s of it.
taskset -c 0 "$G" 127.0.0.1:15160 -sn uac -i 127.0.0.1 -p 15162 -shards 1 -r "$RATE" \
    -m $((RATE * 15)) "$@" >/dev/null 2>&1 </dev/null & CP=$!
sleep 1.5
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
events=context-switches,raw_syscalls:sys_enter
a1=$(ticks $SP); b1=$(ticks $CP); s1=$(date +%s.%N)
perf stat -e $events -p $SP -o "$W/uas.txt" -- sleep 4 &
PS=$!
perf stat -e $events -p $CP -o "$W/uac.txt" -- sleep 4
wait $PS
a2=$(ticks $SP); b2=$(ticks $CP); s2=$(date +%s.%N)
pause CONT
HZ=$(getconf CLK_TCK)
python3 - "$W" "$RATE" "$s1" "$s2" "$a1" "$a2" "$b1" "$b2" "$HZ" <<'PY'
import re, sys
w, rate, s1, s2, a1, a2, b1, b2, hz = sys.argv[1:]
calls = (float(s2) - float(s1)) * float(rate)
def counts(role):
    t = open(f"{w}/{role}.txt").read()
    num = lambda name: int(re.search(r"([\d,]+)\s+" + name, t).group(1).replace(",", ""))
    return num("context-switches"), num("raw_syscalls")
for role, t1, t2 in (("uac", b1, b2), ("uas", a1, a2)):
    cs, sc = counts(role)
    us = (int(t2) - int(t1)) / int(hz) * 1e6 / calls
    print(f"{role}: {us:.1f} CPU-µs per call, {cs / calls:.3f} context switches and {sc / calls:.2f} system calls per call")
PY
