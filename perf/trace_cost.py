#!/usr/bin/env python3
"""What the live SIP trace of `gossipper server` costs per call (issue 18, item 8).

The built-in uac (`gossipper -sn uac`, core 0) sends calls at a fixed rate to `gossipper
server -sn uas -shards 1` (core 1), whose SIP trace capture is on (as it starts) or off
(`PUT /api/v2/sip/trace/capture {"sip":false}` before the first call). Over a steady
window the server's CPU time is read per thread from /proc/PID/task/*/schedstat
(nanoseconds): the shard thread, the runner's tick thread (the main thread: it parses the
captured messages and feeds the calls catalogue) and the rest (API, signals). Runs go in
pairs, off and on interleaved (the order alternating), so a ratio compares the same
machine state: on a shared machine only the ratios of such pairs mean anything.

  perf/trace_cost.py [--rate 10000] [--secs 10] [--pairs 4] [--bin target/release/gossipper]

Prints each run's CPU-µs per call (whole server, shard, tick thread), each pair's on/off
ratio, and the median ratio. Every process has a -timeout and a bounded call count; all
traffic stays on 127.0.0.1. Exits non-zero when a run failed (a process that did not
start, a failed call, a capture switch that did not take, a capture that saw nothing).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from compare import col, read_csv
from perfutil import Ports
from server_control import Failed, Server

free_port = Ports(36000, step=2).next


def thread_ns(pid):
    """{tid: (name, CPU ns)} of every thread of `pid` (empty once it has gone)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        out[int(tid)] = (name, ns)
    return out


def split(pid, before, after):
    """CPU ns between two `thread_ns` readings: (all, shard threads, tick thread)."""
    total = shard = tick = 0
    for tid, (name, ns) in after.items():
        d = ns - before.get(tid, (name, 0))[1]
        total += d
        if name.startswith("gossipper-shard"):
            shard += d
        elif tid == pid:
            tick += d
    return total, shard, tick


def run(binary, trace_on, rate, secs):
    """One run: {"all", "shard", "tick"} CPU-µs per call in the window, and what was seen."""
    work = tempfile.mkdtemp(prefix="perf-trace-cost-")
    calls = int(rate * secs)
    timeout_s = int(secs * 3 + 20)
    server = uac = None
    try:
        port = free_port()
        server = Server(binary, ["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-shards", "1"], "1", work,
                        timeout_s + 30)
        if not trace_on:
            server.call("PUT", "/api/v2/sip/trace/capture", {"sip": False})
            time.sleep(0.2)
        if server.call("GET", "/api/v2/sip/trace/capture").get("sip") != trace_on:
            raise Failed(f"the trace capture is not {'on' if trace_on else 'off'}")
        start = time.time()
        uac = subprocess.Popen(
            ["taskset", "-c", "0", binary, f"127.0.0.1:{port}", "-sn", "uac", "-i", "127.0.0.1", "-p",
             str(free_port()), "-r", str(rate), "-m", str(calls), "-l", str(max(3 * rate, calls)), "-shards", "1",
             "-nostdin", "-timeout", f"{timeout_s}s", "-trace_stat", "-stf", f"{work}/uac.csv", "-fd", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # After the uas's 4 s timewaits have begun to end, before the last calls.
        window, marks = (4.5, secs - 1.0), []
        pid = server.proc.pid
        while uac.poll() is None and time.time() - start < timeout_s + 15:
            if len(marks) < 2 and time.time() - start >= window[len(marks)]:
                marks.append((time.time(), thread_ns(pid)))
            time.sleep(0.02)
        if uac.poll() is None:
            uac.kill()
        rc = uac.wait()
        if len(marks) != 2:
            raise Failed(f"the uac ended after {time.time() - start:.1f} s, before the window's end (rc {rc})")
        (t0, a), (t1, b) = marks
        n = rate * (t1 - t0)
        total, shard, tick = split(pid, a, b)
        res = {"all": total / 1e3 / n, "shard": shard / 1e3 / n, "tick": tick / 1e3 / n}
        trace = server.call("GET", "/api/v2/sip/trace?limit=1")
        res["captured"] = trace.get("next", 0)
        res["dropped"] = trace.get("dropped", 0)
        res["catalogued"] = len(server.call("GET", "/api/v2/calls").get("calls", []))
        h, rows = read_csv(f"{work}/uac.csv")
        failed = col(h, rows[-1], "FailedCall(C)")
        if rc != 0 or failed:
            raise Failed(f"uac exited {rc} with {failed} failed calls")
        if trace_on and (res["captured"] == 0 or res["catalogued"] == 0):
            raise Failed(f"trace on, but {res['captured']} traced and {res['catalogued']} catalogued")
        if not trace_on and res["captured"] != 0:
            raise Failed(f"trace off, but {res['captured']} messages traced")
        return res
    finally:
        if uac is not None and uac.poll() is None:
            uac.kill()
            uac.wait()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/gossipper")
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--secs", type=float, default=10.0)
    ap.add_argument("--pairs", type=int, default=4)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        sys.exit("build first: cargo build --release -p gossipper")
    ratios = {"all": [], "shard": [], "tick": []}
    try:
        for i in range(a.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            got = {}
            for on in order:
                r = run(binary, on, a.rate, a.secs)
                got[on] = r
                print(f"pair {i + 1} trace {'on ' if on else 'off'}: {r['all']:.2f} CPU-µs/call (shard "
                      f"{r['shard']:.2f}, tick thread {r['tick']:.2f}); traced {r['captured']:,}, dropped "
                      f"{r['dropped']:,}, catalogued {r['catalogued']}", flush=True)
            for k in ratios:
                if got[False][k] > 0:
                    ratios[k].append(got[True][k] / got[False][k])
            print(f"pair {i + 1} on/off: all {got[True]['all'] / got[False]['all']:.3f}, shard "
                  f"{got[True]['shard'] / got[False]['shard']:.3f}, tick thread +"
                  f"{got[True]['tick'] - got[False]['tick']:.2f} µs/call", flush=True)
    except Failed as e:
        sys.exit(f"failed: {e}")
    print(f"{a.rate:,} calls/s, {a.pairs} interleaved pairs: server CPU per call on/off median "
          f"{statistics.median(ratios['all']):.3f} (min {min(ratios['all']):.3f}, max {max(ratios['all']):.3f}); "
          f"shard thread median {statistics.median(ratios['shard']):.3f}")


if __name__ == "__main__":
    main()
