#!/usr/bin/env python3
"""Side-by-side benchmark: gossipper against SIPp on this machine, in one run.

Measures, for gossipper<->gossipper and SIPp<->SIPp (built-in uac against built-in uas on
127.0.0.1, each process pinned to its own core with taskset):
  1. the highest call rate with zero failed calls, stepping the rate (UDP u1, then TCP t1:
     one connection carries every call);
  2. CPU-µs per call for each role at a fixed rate both sustain (u1, then t1), in steady
     state: a 6 s window of a 14 s run, after the uas's timewaits have begun to end;
  3. memory per concurrent call: 100,000 calls held open (-d 60000); the RSS of each
     process once all are established, minus its RSS with one call held, per call.
Numbers are read from each tool's own -trace_stat CSV (same format for both) and from
/proc (CPU ticks, RSS). Prints a table with ratios. Every load loop is bounded in calls and
in time; all traffic stays on 127.0.0.1.

The rule a rate must pass to count (RULE below, the same for both tools): the client's
achieved creation rate, from its own per-second CSV rows over a steady window of at least
10 s while it creates calls, is >= 97 % of the target; zero failed calls; exit 0;
retransmissions under 0.1 % of the call's messages; and a step holds only when it passed in
2 of 2 runs. The reported ceiling is the top step that held.

Usage: perf/compare.py [--quick] [--no-t1] [--gossipper target/release/gossipper]
(perf/tls_rate.py measures new TLS connections per second over -t ln.)
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from perfutil import Ports, cpu_ticks

HZ = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
free_port = Ports(31000, step=2).next


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return None


def read_csv(path):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    header = lines[0].split(";")
    rows = [l.split(";") for l in lines[1:]]
    return header, rows


def col(header, row, name):
    return float(row[header.index(name)].strip() or 0)


def epoch(header, row):
    """CurrentTime is `date<TAB>time<TAB>epoch` in both tools' CSV."""
    return float(row[header.index("CurrentTime")].split("\t")[-1])


# The rule, in one line (README quotes it).
RULE = ("a step counts when the client's achieved creation rate over a steady window of "
        ">= 10 s (its own per-second CSV rows) is >= 97 % of the target, with zero failed "
        "calls, exit 0 and retransmissions < 0.1 % of messages, in 2 of 2 runs")
MIN_WINDOW_S = 10.0
MIN_ACHIEVED = 0.97
MAX_RETRANS = 0.001
# The built-in uac's call is 7 messages at the client: INVITE, 100, 180, 200, ACK, BYE, 200.
MESSAGES_PER_CALL = 7


def steady_creation(header, rows):
    """(achieved calls/s, window seconds) over the rows in which the client created calls,
    leaving out the first and the last such row (partial periods: start-up, the last
    calls). None when fewer than three rows created calls."""
    creating = [r for r in rows if col(header, r, "OutgoingCall(P)") > 0]
    if len(creating) < 3:
        return None
    a, b = creating[0], creating[-2]
    span = epoch(header, b) - epoch(header, a)
    if span <= 0:
        return None
    made = col(header, b, "TotalCallCreated") - col(header, a, "TotalCallCreated")
    return made / span, span


class Tool:
    def __init__(self, name, binary, extra):
        self.name, self.binary, self.extra = name, binary, extra


def run_pair(tool, rate, calls, hold_ms=0, limit=None, cores=("0", "1"), measure_mem=False,
             transport="u1", window=None):
    """One uac->uas run over `transport`. Returns a dict of measurements. With
    `window=(a, b)` (seconds after the uac starts) it also measures each process's CPU
    between those instants: steady state, without start-up and wind-down."""
    d = tempfile.mkdtemp(prefix=f"perf-{tool.name}-")
    sport, cport = free_port(), free_port()
    timeout_s = int(calls / rate * 3 + hold_ms / 1000 + 20)
    uas_cmd = ["taskset", "-c", cores[1], tool.binary, "-sn", "uas", "-i", "127.0.0.1", "-p", str(sport),
               "-nostdin", "-timeout", f"{timeout_s + 20}s", "-trace_stat", "-stf", f"{d}/uas.csv", "-fd", "1",
               "-ci", "127.0.0.1", "-cp", str(free_port())] + tool.extra
    uac_cmd = ["taskset", "-c", cores[0], tool.binary, f"127.0.0.1:{sport}", "-sn", "uac", "-i", "127.0.0.1",
               "-p", str(cport), "-r", str(rate), "-m", str(calls), "-nostdin", "-timeout", f"{timeout_s}s",
               "-trace_stat", "-stf", f"{d}/uac.csv", "-fd", "1", "-ci", "127.0.0.1", "-cp", str(free_port())] + tool.extra
    if hold_ms:
        uac_cmd += ["-d", str(hold_ms)]
    uac_cmd += ["-l", str(limit or max(3 * rate, calls))]
    if transport != "u1":
        uas_cmd += ["-t", transport]
        uac_cmd += ["-t", transport]
    uas = subprocess.Popen(uas_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    t_uas0 = cpu_ticks(uas.pid)
    start = time.time()
    uac = subprocess.Popen(uac_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_rss = {"uac": 0, "uas": 0}
    last_ticks = {"uac": 0, "uas": t_uas0 or 0}
    marks = []  # (time, uac ticks, uas ticks) at the window's edges
    while uac.poll() is None and time.time() - start < timeout_s + 15:
        for role, p in (("uac", uac), ("uas", uas)):
            r = rss_bytes(p.pid)
            if r:
                peak_rss[role] = max(peak_rss[role], r)
            t = cpu_ticks(p.pid)
            if t is not None:
                last_ticks[role] = t
        if window and len(marks) < 2 and time.time() - start >= window[len(marks)]:
            marks.append((time.time(), cpu_ticks(uac.pid), cpu_ticks(uas.pid)))
        time.sleep(0.1 if not window else 0.02)
    if uac.poll() is None:
        uac.kill()
    wall = time.time() - start
    uas_ticks = (cpu_ticks(uas.pid) or last_ticks["uas"]) - (t_uas0 or 0)
    uas.send_signal(signal.SIGUSR1)
    try:
        uas.wait(timeout=15)
    except subprocess.TimeoutExpired:
        uas.kill()
    res = {"rate": rate, "calls": calls, "wall": wall, "rc": uac.returncode,
           "uac_cpu_s": last_ticks["uac"] / HZ, "uas_cpu_s": uas_ticks / HZ,
           "uac_rss": peak_rss["uac"], "uas_rss": peak_rss["uas"]}
    if len(marks) == 2 and None not in marks[0] + marks[1]:
        (t0, c0, s0), (t1, c1, s1) = marks
        calls_in_window = rate * (t1 - t0)
        res["window_us_per_call"] = {role: ticks / HZ * 1e6 / calls_in_window
                                     for role, ticks in (("uac", c1 - c0), ("uas", s1 - s0))}
    try:
        h, rows = read_csv(f"{d}/uac.csv")
        last = rows[-1]
        res["ok"] = col(h, last, "SuccessfulCall(C)")
        res["failed"] = col(h, last, "FailedCall(C)")
        res["retrans"] = col(h, last, "Retransmissions(C)")
        res["peak"] = max(col(h, r, "CurrentCall") for r in rows)
        res["achieved"], res["window_s"] = steady_creation(h, rows) or (0.0, 0.0)
    except (OSError, ValueError, IndexError) as e:
        res["ok"], res["failed"], res["retrans"], res["peak"] = 0, calls, 0, 0
        res["achieved"], res["window_s"] = 0.0, 0.0
        res["error"] = str(e)
    shutil.rmtree(d, ignore_errors=True)
    return res


def held_rss(tool, rate, calls, hold_ms=60000, cores=("0", "1")):
    """Holds `calls` calls open (uac -d hold_ms against uas). Returns each role's RSS once
    the uac counts them all current and both processes stopped growing, then ends both
    (no need to wait out the hold)."""
    d = tempfile.mkdtemp(prefix=f"perf-mem-{tool.name}-")
    sport, cport = free_port(), free_port()
    timeout_s = int(calls / rate * 3 + 30)
    uas_cmd = ["taskset", "-c", cores[1], tool.binary, "-sn", "uas", "-i", "127.0.0.1", "-p", str(sport),
               "-nostdin", "-timeout", f"{timeout_s + hold_ms // 1000 + 20}s", "-ci", "127.0.0.1",
               "-cp", str(free_port())] + tool.extra
    uac_cmd = ["taskset", "-c", cores[0], tool.binary, f"127.0.0.1:{sport}", "-sn", "uac", "-i", "127.0.0.1",
               "-p", str(cport), "-r", str(rate), "-m", str(calls), "-l", str(calls), "-d", str(hold_ms),
               "-nostdin", "-timeout", f"{timeout_s + hold_ms // 1000}s", "-trace_stat", "-stf", f"{d}/uac.csv",
               "-fd", "1", "-ci", "127.0.0.1", "-cp", str(free_port())] + tool.extra
    uas = subprocess.Popen(uas_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    uac = subprocess.Popen(uac_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.time()
    current, last = 0, (0, 0)
    rss = {"uac": 0, "uas": 0, "held": 0}
    while uac.poll() is None and time.time() - start < timeout_s:
        time.sleep(1)
        try:
            h, rows = read_csv(f"{d}/uac.csv")
            current = col(h, rows[-1], "CurrentCall")
        except (OSError, ValueError, IndexError):
            continue
        now = (rss_bytes(uac.pid) or 0, rss_bytes(uas.pid) or 0)
        # All calls placed, and neither process grew by more than 0.2 % in the last second.
        if current >= calls and all(abs(a - b) <= b * 0.002 for a, b in zip(now, last)):
            rss = {"uac": now[0], "uas": now[1], "held": current}
            break
        last = now
    for p in (uac, uas):
        p.kill()
        p.wait()
    shutil.rmtree(d, ignore_errors=True)
    return rss


def memory_per_call(tool, rate, calls):
    """Bytes per held call for each role: RSS with `calls` held minus RSS with one held."""
    base = held_rss(tool, rate, 1)
    full = held_rss(tool, rate, calls)
    if not full["held"]:
        print(f"  {tool.name}: the {calls} calls were not all established in time", flush=True)
    res = {role: (full[role] - base[role]) / max(calls - 1, 1) for role in ("uac", "uas")}
    print(f"  {tool.name:10s} RSS with 1 call: uac {base['uac'] / 1e6:.1f} MB, uas {base['uas'] / 1e6:.1f} MB; "
          f"with {calls}: uac {full['uac'] / 1e6:.1f} MB, uas {full['uas'] / 1e6:.1f} MB", flush=True)
    return res


def clean(r, rate):
    """RULE for one run (the 2-of-2 part is max_clean_rate's)."""
    return (r["failed"] == 0 and r["rc"] == 0 and r["ok"] >= r["calls"]
            and r["window_s"] >= MIN_WINDOW_S and r["achieved"] >= MIN_ACHIEVED * rate
            and r["retrans"] < MAX_RETRANS * MESSAGES_PER_CALL * r["calls"])


def report(tool, transport, r, rate):
    """Prints one run's line (with its steady-state CPU when measured); True when clean."""
    ok = clean(r, rate)
    cpu = ""
    if "window_us_per_call" in r:
        cpu = " cpu/call uac={uac:.1f}us uas={uas:.1f}us".format(**r["window_us_per_call"])
    print(f"  {tool.name:10s} {transport} {rate:>7} cps: achieved={r['achieved']:.0f} over {r['window_s']:.1f}s "
          f"ok={int(r['ok'])} failed={int(r['failed'])} retrans={int(r['retrans'])} "
          f"wall={r['wall']:.1f}s rc={r['rc']}{cpu} {'CLEAN' if ok else 'FAIL'}", flush=True)
    return ok


def max_clean_rate(tool, rates, secs, transport="u1", runs=2):
    """The top step of `rates` that held in `runs` of `runs` runs (RULE); the ladder stops
    at the first step that did not."""
    best = 0
    for rate in rates:
        for _ in range(runs):
            r = run_pair(tool, rate, int(rate * secs), transport=transport)
            if not report(tool, transport, r, rate):
                return best
        best = rate
    return best


def call_floor(binary, rate):
    """The machine's floor for one call's work at `rate` (perf/src/bin/call_floor.rs):
    {"uac": µs, "uas": µs}, or None when the binary is not built."""
    if not os.path.exists(binary):
        print(f"  floor: not measured ({binary} missing: cargo build --release -p gossipper-perf --bin call_floor)")
        return None
    out = subprocess.run([binary, str(rate)], capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("floor uac="):
            f = dict(kv.split("=") for kv in line[len("floor "):].split())
            print(f"  floor      u1 {rate:>7} cps: uac={float(f['uac']):.1f}us uas={float(f['uas']):.1f}us "
                  "(empty userland: 1 ms pacer wake-ups and the kernel's work for the call's datagrams)", flush=True)
            return {role: float(f[role]) for role in ("uac", "uas")}
    print(f"  floor: call_floor printed no figure: {out!r}")
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gossipper", default="target/release/gossipper")
    ap.add_argument("--quick", action="store_true", help="fewer steps, shorter runs")
    ap.add_argument("--no-t1", action="store_true", help="skip the TCP t1 rows")
    ap.add_argument("--floor", default="target/release/call_floor",
                    help="the call_floor benchmark (cargo build --release -p gossipper-perf --bin call_floor)")
    a = ap.parse_args()
    if not shutil.which("sipp"):
        sys.exit("sipp is required (apt-get install sip-tester)")
    g = Tool("gossipper", a.gossipper, ["-shards", "1"])
    s = Tool("sipp", "sipp", ["-buff_size", "4194304"])
    # 13 s of creation leaves a steady window of ~11 s once the first and last partial
    # seconds are set aside (RULE asks for 10).
    secs = 13
    print(f"machine: {os.cpu_count()} CPUs, {open('/proc/cpuinfo').read().count('processor')} processors; "
          f"{subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}")
    print(f"rule: {RULE}")
    print("\n1. highest call rate under the rule (UDP u1, uac and uas each on one core)")
    sipp_rates = [2000, 6000, 10000, 12000, 14000, 16000] if not a.quick else [8000, 12000, 14000]
    g_rates = [10000, 20000, 33000, 40000, 45000, 50000, 55000, 60000, 70000] if not a.quick else [33000, 40000, 50000, 60000]
    best_s = max_clean_rate(s, sipp_rates, secs)
    best_g = max_clean_rate(g, g_rates, secs)
    # The reference point: a rate both tools sustain.
    fixed = 10000
    # CPU per call in steady state: 14 s runs measured from 5.5 s to 11.5 s, after the
    # uas's 4 s timewaits have begun to end (a shorter run never pays for them) and
    # before the last calls wind down. The run must be clean for the window to count.
    cpu_secs, window = 14, (5.5, 11.5)
    print(f"\n2. CPU per call at {fixed} cps (steady state, {window[0]}-{window[1]} s of a {cpu_secs} s run)")
    floor = call_floor(a.floor, fixed)
    cs = run_pair(s, fixed, fixed * cpu_secs, window=window)
    cg = run_pair(g, fixed, fixed * cpu_secs, window=window)
    clean_cpu = {id(r): report(t, "u1", r, fixed) for t, r in ((s, cs), (g, cg))}

    def per_call(r, role):
        if not clean_cpu.get(id(r)) or "window_us_per_call" not in r:
            return float("nan")
        return r["window_us_per_call"][role]
    # TCP t1: the same two measures, every call on one connection each way.
    if not a.no_t1:
        print("\n1b. highest call rate under the rule (TCP t1, uac and uas each on one core)")
        # TCP loses nothing: a peer that falls behind shows as a lower achieved rate (RULE).
        t1_sipp_rates = ([2000, 6000, 10000, 14000, 18000, 22000, 26000, 30000] if not a.quick
                         else [10000, 18000, 26000, 30000])
        t1_g_rates = ([10000, 20000, 33000, 40000, 50000, 60000, 70000, 80000, 90000, 100000] if not a.quick
                      else [33000, 40000, 50000, 60000, 80000])
        t1_best_s = max_clean_rate(s, t1_sipp_rates, secs, "t1")
        t1_best_g = max_clean_rate(g, t1_g_rates, secs, "t1")
        print(f"\n2b. CPU per call at {fixed} cps (TCP t1)")
        t1_cs = run_pair(s, fixed, fixed * cpu_secs, transport="t1", window=window)
        t1_cg = run_pair(g, fixed, fixed * cpu_secs, transport="t1", window=window)
        clean_cpu.update({id(r): report(t, "t1", r, fixed) for t, r in ((s, t1_cs), (g, t1_cg))})
    # Issue #3: 100,000 held calls, in both modes (only the pace differs).
    held = 100000
    print(f"\n3. memory per concurrent call ({held} calls held, -d 60000; RSS delta / calls)")
    hold_rate = 10000 if a.quick else 20000
    ms = memory_per_call(s, hold_rate, held)
    mg = memory_per_call(g, hold_rate, held)
    print("\n| measure | SIPp | gossipper | ratio |\n|---|---:|---:|---:|")
    print(f"| highest rate under the rule, UDP u1 (cps) | {best_s} | {best_g} | {best_g / max(best_s, 1):.1f}x |")
    for role in ("uac", "uas"):
        a_, b_ = per_call(cs, role), per_call(cg, role)
        print(f"| CPU per call, {role} (µs) | {a_:.1f} | {b_:.1f} | {a_ / max(b_, 0.01):.1f}x less |")
    if floor:
        for role in ("uac", "uas"):
            a_, b_, f_ = per_call(cs, role), per_call(cg, role), floor[role]
            print(f"| CPU per call, {role}, as multiples of the floor ({f_:.1f} µs) | {a_ / f_:.2f}x | {b_ / f_:.2f}x | |")
    if not a.no_t1:
        print(f"| highest rate under the rule, TCP t1 (cps) | {t1_best_s} | {t1_best_g} | {t1_best_g / max(t1_best_s, 1):.1f}x |")
        for role in ("uac", "uas"):
            a_, b_ = per_call(t1_cs, role), per_call(t1_cg, role)
            print(f"| CPU per call, TCP t1, {role} (µs) | {a_:.1f} | {b_:.1f} | {a_ / max(b_, 0.01):.1f}x less |")
    for role in ("uac", "uas"):
        a_, b_ = ms[role], mg[role]
        print(f"| memory per held call, {role} (bytes) | {a_:.0f} | {b_:.0f} | {a_ / max(b_, 1):.1f}x less |")


if __name__ == "__main__":
    main()
