#!/usr/bin/env python3
"""TLS connection rate: gossipper uac `-t ln` against gossipper uas `-t ln` on 127.0.0.1.

Every call of `-t ln` opens its own TLS connection (handshake included) and closes it when
the call ends, so the call rate is the rate of new TLS connections. The rate is stepped up;
a step is clean when every call succeeded (zero failed calls on both sides), every call
finished within 10 % of its paced time (+1.5 s to start and close), and the client opened one connection per call. The
highest clean step is the figure (the issue's target: >= 1,000 new TLS connections/s).

Each process is pinned to its own core (taskset). Counts come from the uac's summary.json
(`transport.connections_opened`, `success_calls`, `failed_calls`) and the uas's -trace_stat
CSV; CPU from /proc. The server presents a generated self-signed certificate (no
-tls_cert), the client accepts it (no -tls_ca), as in a test lab.

Usage: perf/tls_rate.py [--gossipper target/release/gossipper] [--secs 5]
                        [--rates 500,1000,1500,2000,3000,4000]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from perfutil import Ports, cpu_ticks

HZ = os.sysconf("SC_CLK_TCK")
free_port = Ports(33000, step=2).next


def last_row(path, name):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    header = lines[0].split(";")
    return float(lines[-1].split(";")[header.index(name)].strip() or 0)


def run(binary, rate, secs, transport="ln", cores=("0", "1")):
    """One uac -> uas run at `rate` calls (connections) per second."""
    d = tempfile.mkdtemp(prefix="perf-tls-")
    calls = int(rate * secs)
    sport = free_port()
    timeout_s = int(secs * 3 + 20)
    uas_cmd = ["taskset", "-c", cores[1], binary, "-sn", "uas", "-t", transport, "-i", "127.0.0.1",
               "-p", str(sport), "-nostdin", "-timeout", f"{timeout_s + 20}s", "-trace_stat",
               "-stf", f"{d}/uas.csv", "-fd", "1", "-ci", "127.0.0.1", "-cp", str(free_port()),
               "-shards", "1"]
    uac_cmd = ["taskset", "-c", cores[0], binary, f"127.0.0.1:{sport}", "-sn", "uac", "-t", transport,
               "-i", "127.0.0.1", "-r", str(rate), "-m", str(calls), "-l", str(max(3 * rate, 100)),
               "-nostdin", "-timeout", f"{timeout_s}s", "-summary_json", f"{d}/uac.json",
               "-ci", "127.0.0.1", "-cp", str(free_port()), "-shards", "1"]
    uas = subprocess.Popen(uas_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.7)
    uas0 = cpu_ticks(uas.pid) or 0
    start = time.time()
    uac = subprocess.Popen(uac_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    ticks = {"uac": 0, "uas": uas0}
    while uac.poll() is None and time.time() - start < timeout_s + 15:
        for role, p in (("uac", uac), ("uas", uas)):
            t = cpu_ticks(p.pid)
            if t is not None:
                ticks[role] = t
        time.sleep(0.1)
    if uac.poll() is None:
        uac.kill()
        uac.wait()
    wall = time.time() - start
    ticks["uas"] = cpu_ticks(uas.pid) or ticks["uas"]
    uas.send_signal(signal.SIGUSR1)
    try:
        uas.wait(timeout=15)
    except subprocess.TimeoutExpired:
        uas.kill()
        uas.wait()
    res = {"rate": rate, "calls": calls, "wall": wall, "rc": uac.returncode,
           "uac_cpu_s": ticks["uac"] / HZ, "uas_cpu_s": (ticks["uas"] - uas0) / HZ}
    try:
        with open(f"{d}/uac.json") as f:
            s = json.load(f)
        res["ok"] = s["success_calls"]
        res["failed"] = s["failed_calls"]
        res["opened"] = s["transport"]["connections_opened"]
        res["handshake_failures"] = s["transport"]["handshake_failures"]
        res["duration_s"] = s["duration_ms"] / 1000
        res["uas_failed"] = last_row(f"{d}/uas.csv", "FailedCall(C)")
    except (OSError, ValueError, KeyError, IndexError) as e:
        res.update(ok=0, failed=calls, opened=0, handshake_failures=0, duration_s=wall,
                   uas_failed=0, error=str(e), stderr=uac.stderr.read().decode()[-500:])
    shutil.rmtree(d, ignore_errors=True)
    return res


def clean(r):
    return (r["rc"] == 0 and r["failed"] == 0 and r["uas_failed"] == 0 and r["ok"] >= r["calls"]
            and r["opened"] >= r["calls"] and r["wall"] <= r["calls"] / r["rate"] * 1.1 + 1.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gossipper", default="target/release/gossipper")
    ap.add_argument("--secs", type=float, default=5)
    ap.add_argument("--rates", default="500,1000,1500,2000,3000,4000")
    ap.add_argument("--transport", default="ln", help="ln (TLS), or tn to compare with plain TCP")
    a = ap.parse_args()
    if not os.path.exists(a.gossipper):
        sys.exit(f"{a.gossipper} is missing: cargo build --release -p gossipper")
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"machine: {os.cpu_count()} CPUs, load {load}; -t {a.transport}, {a.secs:g} s per step, "
          f"uac and uas each on one core")
    best = None
    for rate in [int(x) for x in a.rates.split(",")]:
        r = run(a.gossipper, rate, a.secs, a.transport)
        ok = clean(r)
        conn_s = r["opened"] / max(r["duration_s"], 1e-9)
        per = lambda role: r[f"{role}_cpu_s"] / max(r["opened"], 1) * 1e6
        print(f"  {rate:>6} conn/s asked: opened={r['opened']} ok={r['ok']} failed={r['failed']}+{int(r['uas_failed'])} "
              f"handshake_failures={r['handshake_failures']} achieved={conn_s:.0f}/s wall={r['wall']:.1f}s "
              f"cpu/conn uac={per('uac'):.0f}us uas={per('uas'):.0f}us {'CLEAN' if ok else 'FAIL'}", flush=True)
        if "error" in r:
            print(f"    {r['error']}\n    {r.get('stderr', '')}")
        if not ok:
            break
        best = (rate, conn_s, per("uac"), per("uas"))
    if best is None:
        print("\nno clean step")
        sys.exit(1)
    rate, conn_s, uac_us, uas_us = best
    print(f"\n| measure | gossipper |\n|---|---:|\n"
          f"| new {a.transport} connections/s, zero failed calls | {rate} (achieved {conn_s:.0f}/s) |\n"
          f"| CPU per connection (call), uac (µs) | {uac_us:.0f} |\n"
          f"| CPU per connection (call), uas (µs) | {uas_us:.0f} |")


if __name__ == "__main__":
    main()
