#!/usr/bin/env python3
"""`gossipper server` under load (issue 18, item 8): how fast a control action takes
effect, and what the live SIP trace costs.

  a. control delay: `gossipper server -sn uac` places calls at 20,000 calls/s against a
     `gossipper -sn uas` on 127.0.0.1 (one shard each, each pinned to its own core), and
     the script POSTs to /api/v1/control, in turn: rate 20,000 -> 2,000, 2,000 -> 20,000,
     pause, resume, 20,000 -> 10,000, 10,000 -> 20,000 (`--repeats` times). One tcpdump
     on lo captures the INVITEs and the API's TCP segments, so every instant comes from
     one clock (the kernel's CLOCK_REALTIME stamp as each packet crosses lo, in µs): an
     action is dated by the arrival of its POST (the request's last segment to the API's
     port), not by the client's return. Above 1,000 calls/s the pacer releases calls in
     bursts one tick (1 ms) apart; the INVITEs are grouped into those bursts (a gap over
     250 µs starts a new one) and each action is judged per tick: a rate change must show
     in the first burst that starts after the POST (its size the new rate's calls over the
     interval since the previous burst, within 1.5 or 20 %, and nearer it than the old
     rate's: rate / 1,000 for a burst on time, more for a late one), a pause must leave no
     burst after the POST, a resume must start one within a tick. A burst that starts
     within 200 µs of the POST's arrival (the API parses the request, stores the change
     and wakes the shard, which shares its core) may precede the change: then the next
     burst must show it, and it must start within a tick and 200 µs of the POST (the tick
     as the sender keeps it: the median interval between its bursts before the first
     action, 1 ms plus its turn's reading and timer slack). When the sender itself misses
     its pace before the first action (fewer than 9 in 10 bursts at most 2 ms after the
     previous and holding the rate's calls for that interval: a busy machine), the script
     says the verdict does not apply.
     Reported per action: the tick (burst after the POST) that first shows the change and
     its delay from the POST's arrival (µs stamps; the pacer's bursts are 1 ms apart, so
     the tick, not the µs, is the verdict). tcpdump runs on the uas's core (on the
     server's, woken by a burst's first INVITE, it preempted the shard mid-burst).
     Secondary: for a rate change, the instant the INVITE times switch from
     the old pace to the new one by a least-squares fit of their cumulative count to two
     lines of the known slopes (100 ms each side of the arrival; ~1 ms resolution). Target:
     every action in the first tick after its POST arrived, with zero failed calls.
  b. trace cost: `gossipper server -sn uas` with its SIP trace capture on (as it starts:
     every message copied for /api/v2/sip/trace, finished calls for /api/v2/calls) or
     turned off (`PUT /api/v2/sip/trace/capture {"sip":false}` before the first call),
     against the built-in uac (`gossipper -sn uac`), each pinned to its own core: the
     highest rate under perf/compare.py's rule, stepping the rate, both ways; the ratio
     (target: the trace costs <= 5 % of the ceiling).

Every process has a -timeout and every run a bounded call count; all traffic stays on
127.0.0.1. Needs tcpdump and root for (a). Exits non-zero when a run a figure relies on
failed (a process that did not start or exited non-zero, a failed call during (a), lost
capture packets, a capture switch that did not take).

Usage: perf/server_control.py [--bin target/release/gossipper] [--parts ab] [--quick]
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from compare import RULE, clean, col, read_csv, report, steady_creation
from perfutil import INVITE_FILTER, Capture, Ports, cpu_ticks, tcp_segments, udp_packets

HZ = os.sysconf("SC_CLK_TCK")
free_port = Ports(35000, step=2).next
# (b) The rates stepped through, calls/s.
LADDER = [10000, 20000, 26000, 30000, 32000, 34000, 36000, 40000]
QUICK_LADDER = [10000, 20000, 30000]
# (a) The pacer's tick: above 1,000 calls/s calls leave in bursts this far apart
# (engine/proto/src/load.rs, BURST).
TICK = 1e-3
# (a) INVITEs further apart than this belong to different bursts (a burst leaves in one
# sendmmsg, a few µs a datagram; the next one is a tick later).
BURST_GAP = 0.25e-3
# (a) The wake allowance: a burst that starts this soon after the POST's arrival may have
# been released before the change was stored (the API thread reads and parses the request,
# stores the change and writes the control block's eventfd; the shard shares its core).
WAKE = 0.2e-3


class Failed(Exception):
    """A run a figure relies on did not go as it must."""


class Server:
    """A `gossipper server` process and its API (no token: loopback only)."""

    def __init__(self, binary, args, core, work, timeout_s):
        self.log = open(os.path.join(work, "server.err"), "w+")
        self.proc = subprocess.Popen(
            ["taskset", "-c", core, binary, "server", *args, "-api_addr", "127.0.0.1:0", "-nostdin",
             "-timeout", f"{int(timeout_s)}s"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        self.base = None
        for _ in range(100):
            self.log.seek(0)
            m = re.search(r"control API on (http://[0-9.]+:\d+)/api/v1", self.log.read())
            if m:
                self.base = m.group(1)
                self.port = int(self.base.rsplit(":", 1)[1])
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.log.seek(0)
        said = self.log.read()[-400:]
        self.stop()
        raise Failed(f"gossipper server did not start: {said}")

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def stop(self):
        """SIGTERM, then its exit code (killed after 15 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc


def switch_time(times, t_post, old, new, span=0.1):
    """The instant the INVITE times switch from `old` calls/s to `new`: the split of the
    cumulative count over [t_post - span, t_post + span] that best fits two lines of those
    slopes meeting at the split (least squares, the offset free), in O(n) with running
    sums. None when too few INVITEs fall in the span."""
    ts = [t - t_post for t in times if -span <= t - t_post <= span]
    n = len(ts)
    if n < 4:
        return None
    # u_j = j - s_j * (t_j - c) for split c at t_k; minimise sum (u_j - mean u)^2.
    vo = [j - old * t for j, t in enumerate(ts)]
    vn = [j - new * t for j, t in enumerate(ts)]
    pre_v = [0.0] * (n + 1)
    pre_v2 = [0.0] * (n + 1)
    for j in range(n):
        pre_v[j + 1] = pre_v[j] + vo[j]
        pre_v2[j + 1] = pre_v2[j] + vo[j] ** 2
    suf_v = [0.0] * (n + 1)
    suf_v2 = [0.0] * (n + 1)
    for j in range(n - 1, -1, -1):
        suf_v[j] = suf_v[j + 1] + vn[j]
        suf_v2[j] = suf_v2[j + 1] + vn[j] ** 2
    best = None
    for k in range(1, n):
        c = ts[k]
        s_sum = old * k + new * (n - k)
        s2_sum = old * old * k + new * new * (n - k)
        v_sum = pre_v[k] + suf_v[k]
        v2_sum = pre_v2[k] + suf_v2[k]
        sv_sum = old * pre_v[k] + new * suf_v[k]
        u_sum = v_sum + c * s_sum
        u2_sum = v2_sum + 2 * c * sv_sum + c * c * s2_sum
        sse = u2_sum - u_sum * u_sum / n
        if best is None or sse < best[0]:
            best = (sse, c)
    return t_post + best[1]


def bursts_of(times, gap=BURST_GAP):
    """The pacer's bursts among sorted INVITE times: [(first INVITE's time, INVITEs)], a
    new burst after each gap longer than `gap`."""
    out = []
    for t in times:
        if out and t - out[-1][2] <= gap:
            out[-1][1] += 1
            out[-1][2] = t
        else:
            out.append([t, 1, t])
    return [(b[0], b[1]) for b in out]


def post_arrivals(segments, api_port):
    """When each `POST /api/v1/control` was whole at the API's port, in order: the capture
    time of the last segment of the request (client to server, with payload) before the
    server's first segment with payload on that connection; and that answer's time."""
    conns = {}
    for ts, sport, dport, _, payload in segments:
        if dport == api_port and payload:
            c = conns.setdefault(sport, {"first": ts, "head": payload, "last": ts, "answer": None})
            if c["answer"] is None:
                c["last"] = ts
        elif sport == api_port and payload and dport in conns and conns[dport]["answer"] is None:
            conns[dport]["answer"] = ts
    posts = sorted((c["first"], c["last"], c["answer"]) for c in conns.values()
                   if c["head"].startswith(b"POST /api/v1/control "))
    return [(last, answer) for _, last, answer in posts]


def shows(n, gap, rate):
    """Whether a burst of `n` INVITEs, `gap` s after the previous one, holds `rate`'s calls
    for that interval: within 1.5 calls (the pacer opens whole ones) or 20 % (a busy
    sender's first stamp of a burst is late by tens of µs)."""
    return abs(n - rate * gap) <= max(1.5, 0.2 * rate * gap)


def judge(kind, old, new, at, before, after, tick=TICK):
    """The tick verdict for one action whose POST arrived at `at`, over `after`, the bursts
    that start after it and before the next action's POST (`before`: the last burst that
    started before it; `tick`: the sender's own interval between bursts, 1 ms and its
    turn's overhead): (met, ticks, delay in µs, text). Rate change: the first burst that
    `shows` the new rate (its calls for the interval since the previous burst, nearer it
    than the old rate's) must be the first burst after the POST, or the second when the
    first started within WAKE of it, and start within a tick and WAKE of the POST. Pause:
    no burst may start after the POST but one within WAKE. Resume: a burst must start
    within a tick and WAKE of the POST. `ticks`: for a pause the bursts released after the
    POST; otherwise the ordinal of the first burst after it that shows the change."""
    if kind == "pause":
        n = len(after)
        met = n == 0 or (n == 1 and after[0][0] <= at + WAKE)
        delay = (after[n - 1][0] - at) * 1e6 if n else 0.0
        return met, n, delay, f"{n} burst(s) after the POST" + (f", the last +{delay:.0f} µs" if n else "")
    if kind == "resume":
        if not after:
            return False, None, None, "no burst after the POST"
        delay = (after[0][0] - at) * 1e6
        return delay <= (tick + WAKE) * 1e6, 1, delay, f"first burst +{delay:.0f} µs ({after[0][1]} INVITEs)"
    prev = before
    for k, (t, n) in enumerate(after[:50], 1):
        gap = t - prev[0] if prev else TICK
        prev = (t, n)
        if shows(n, gap, new) and abs(n - new * gap) < abs(n - old * gap):
            delay = (t - at) * 1e6
            met = (k == 1 or (k == 2 and after[0][0] <= at + WAKE)) and t - at <= tick + WAKE
            # Each burst of the way: its start after the POST, its size and the gap since
            # the burst before it (what `shows` judged it by).
            starts = [before] + after[:k + 1] if before else after[:k + 1]
            way = ", ".join(
                f"+{(b[0] - at) * 1e6:.0f} µs {b[1]} after {(b[0] - a[0]) * 1e6:.0f} µs"
                for a, b in zip(starts, starts[1:]))
            sizes = ",".join(f"{b[1]}" for b in after[:k + 1])
            text = f"burst {k} after the POST, +{delay:.0f} µs (sizes {sizes})"
            return met, k, delay, text if met else f"{text}; bursts: {way}"
    sizes = ",".join(f"{b[1]}" for b in after[:8])
    return False, None, None, f"no burst at {new:,} calls/s in the {len(after)} after the POST (sizes {sizes}...)"


def part_a(binary, rate, repeats, settle):
    """Control delay: see the module doc."""
    work = tempfile.mkdtemp(prefix="perf-srv-a-")
    steps = [("rate", 2000), ("rate", rate), ("pause", None), ("resume", None), ("rate", rate // 2), ("rate", rate)]
    total_s = 4 + repeats * len(steps) * (settle + 0.2) + 4
    calls = int(rate * total_s * 1.2)
    uas = server = cap = None
    try:
        port = free_port()
        uas = subprocess.Popen(["taskset", "-c", "1", binary, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port),
                                "-nostdin", "-shards", "1", "-timeout", f"{int(total_s + 40)}s"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        server = Server(binary, ["-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(free_port()),
                                 "-r", str(rate), "-m", str(calls), "-l", str(3 * rate), "-shards", "1"],
                        "0", work, total_s + 30)
        time.sleep(3.0)
        pcap = os.path.join(work, "invites.pcap")
        # One capture, so one clock: the INVITEs and the API's TCP segments (the POSTs).
        # 300 bytes: the request line and the Via with its branch, which tells a first
        # INVITE from a retransmission of it.
        # tcpdump on the uas's core: woken by a burst's first INVITE on the server's core
        # it preempted the shard mid-sendmmsg, so the first INVITE of a burst left alone,
        # up to 0.9 ms before the rest (busy machine, 2026-12-08).
        cap = Capture(pcap, f"(udp and dst port {port} and {INVITE_FILTER}) or (tcp and port {server.port})",
                      snaplen=300, wrap=["taskset", "-c", "1"]).start()
        time.sleep(settle)
        actions = []  # (kind, old rate, new rate, POST sent, POST returned)
        current = rate
        for _ in range(repeats):
            for kind, value in steps:
                body = {"rate": value} if kind == "rate" else {kind: True}
                t0 = time.time()
                got = server.call("POST", "/api/v1/control", body)
                t1 = time.time()
                if kind == "rate" and abs(got.get("rate", -1) - value) > 1e-6:
                    raise Failed(f"control answered {got} to {body}")
                actions.append((kind, current, value if kind == "rate" else current, t0, t1))
                if kind == "rate":
                    current = value
                time.sleep(settle)
        time.sleep(0.3)
        dropped = cap.stop()
        cap = None
        stats = server.call("GET", "/api/v1/stats")
        if dropped:
            raise Failed(f"tcpdump lost {dropped} packets")
        failed = stats.get("failed_calls")
        if failed != 0:
            raise Failed(f"the server counts {failed} failed calls")
        times, seen, repeated = [], set(), 0
        for ts, _, _, _, payload in udp_packets(pcap):
            m = re.search(rb"branch=([^;\r\n ]+)", payload)
            if not payload.startswith(b"INVITE ") or not m:
                continue
            if m.group(1) in seen:
                repeated += 1
                continue
            seen.add(m.group(1))
            times.append(ts)
        times.sort()
        if not times:
            raise Failed("no INVITE captured")
        # The pace actually kept over the last 0.4 s before the first action.
        first_post = actions[0][3]
        before = [t for t in times if first_post - 0.4 <= t < first_post]
        kept = len(before) / 0.4
        posts = post_arrivals(tcp_segments(pcap), server.port)
        if len(posts) != len(actions):
            raise Failed(f"{len(posts)} POST /api/v1/control captured for {len(actions)} actions")
        bursts = bursts_of(times)
        # The sender's own ticks over the 0.4 s before the first action: the interval
        # between its bursts (1 ms plus its turn's reading and timer slack) and whether
        # each burst held the rate's calls for it.
        steady = [(t - p[0], n) for p, (t, n) in zip(bursts, bursts[1:]) if first_post - 0.4 <= t < first_post]
        tick = statistics.median(g for g, _ in steady) if steady else TICK
        by_kind, missed, late_answer = {}, [], 0.0
        for i, ((kind, old, new, t0, t1), (at, answer)) in enumerate(zip(actions, posts)):
            if not t0 <= at <= t1:
                raise Failed(f"the POST's capture time is {at - t0:+.6f} s after it was sent, outside its round "
                             f"trip ({t1 - t0:.6f} s): not one clock")
            until = posts[i + 1][0] if i + 1 < len(posts) else float("inf")
            after = [b for b in bursts if at < b[0] < until]
            last = [b for b in bursts if b[0] <= at][-1:]
            met, ticks, delay, text = judge(kind, old, new, at, last[0] if last else None, after, max(tick, TICK))
            label = f"rate {old:,}->{new:,}" if kind == "rate" else kind
            if kind == "rate":
                fit = switch_time(times, at, old, new)
                fit = None if fit is None else (fit - at) * 1000
            else:
                fit = None
            answered = (answer - at) * 1e6 if answer else None
            late_answer = max(late_answer, answered or 0.0)
            by_kind.setdefault(label, []).append((met, ticks, delay, text, fit, (t1 - at) * 1000))
            if not met:
                missed.append(f"{label}: {text}")
        print(f"a. control at {rate:,} calls/s ({kept:,.0f} kept before the first action, in bursts of "
              f"{min((n for _, n in steady), default=0)}-{max((n for _, n in steady), default=0)} INVITEs, a "
              f"median {tick * 1e3:.2f} ms apart; {len(times):,} first INVITEs captured, "
              f"{repeated:,} retransmitted ones left out; {stats.get('total_calls', 0):,} calls, 0 failed, "
              f"{stats.get('retransmits', 0):,} retransmissions), {repeats} each. Each action is dated by its "
              f"POST's last segment at the API's port, the INVITEs by their own packets (one tcpdump on lo: one "
              f"clock, µs stamps), the INVITEs grouped into the pacer's bursts (gaps > {BURST_GAP * 1e6:.0f} µs); "
              f"the first burst after the POST must show the change (allowance {WAKE * 1e6:.0f} µs: a burst "
              f"that starts sooner may precede it):", flush=True)
        total = good = 0
        for label, got in by_kind.items():
            total += len(got)
            good += sum(1 for g in got if g[0])
            delays = [g[2] for g in got if g[2] is not None]
            ticks = [g[1] for g in got]
            fits = [g[4] for g in got if g[4] is not None]
            extra = (f"; secondary, two-slope fit from the arrival: median {statistics.median(fits):+.2f} ms"
                     if fits else "")
            what = "bursts released after the POST" if label == "pause" else "tick (burst after the POST)"
            print(f"   {label:22s} {sum(1 for g in got if g[0])} of {len(got)} met; {what}: "
                  f"{', '.join('-' if t is None else str(t) for t in ticks)}; "
                  + (f"delay to it: median {statistics.median(delays):+.0f} µs, max {max(delays):+.0f} µs"
                     if delays and label != "pause" else "")
                  + f" (POST arrival to its return <= {max(g[5] for g in got):.1f} ms){extra}", flush=True)
        print(f"a. control: {good} of {total} actions took effect in the first pacer tick after the POST arrived "
              f"(target: all, with 0 failed calls: {'met' if good == total else 'missed'}); the API answered "
              f"<= {late_answer:.0f} µs after a POST arrived", flush=True)
        on_time = sum(1 for g, n in steady if shows(n, g, rate) and g <= 2 * TICK)
        if on_time < 0.9 * len(steady):
            print(f"a. the sender kept its pace in only {on_time} of the {len(steady)} bursts of the 0.4 s before the "
                  f"first action (each at most 2 ms after the previous, holding the rate's calls for that "
                  f"interval): the machine is too busy for a tick verdict", flush=True)
        for m in missed:
            print(f"   missed: {m}", flush=True)
        worst = max((g[2] or 0.0 for got in by_kind.values() for g in got), default=0.0)
        return worst
    finally:
        if cap is not None:
            cap.stop()
        if server is not None:
            server.stop()
        if uas is not None:
            uas.kill()
            uas.wait()
        shutil.rmtree(work, ignore_errors=True)


class Side:
    """A name for compare.report's lines."""

    def __init__(self, name):
        self.name = name


def run_trace(binary, trace_on, rate, secs):
    """One run: the built-in uac at `rate` against `gossipper server -sn uas` with its SIP
    trace capture on or off. compare.py's per-run figures, plus what the server captured."""
    work = tempfile.mkdtemp(prefix="perf-srv-b-")
    calls = int(rate * secs)
    timeout_s = int(calls / rate * 3 + 20)
    server = uac = None
    try:
        port = free_port()
        server = Server(binary, ["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-shards", "1"], "1", work,
                        timeout_s + 30)
        if not trace_on:
            server.call("PUT", "/api/v2/sip/trace/capture", {"sip": False})
            # The shards read the switch on their next loop turn (an idle one sleeps up
            # to 25 ms): no call before they have.
            time.sleep(0.2)
        if server.call("GET", "/api/v2/sip/trace/capture").get("sip") != trace_on:
            raise Failed(f"the trace capture is not {'on' if trace_on else 'off'}")
        start = time.time()
        uac = subprocess.Popen(
            ["taskset", "-c", "0", binary, f"127.0.0.1:{port}", "-sn", "uac", "-i", "127.0.0.1", "-p", str(free_port()),
             "-r", str(rate), "-m", str(calls), "-l", str(max(3 * rate, calls)), "-shards", "1", "-nostdin",
             "-timeout", f"{timeout_s}s", "-trace_stat", "-stf", f"{work}/uac.csv", "-fd", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Each side's CPU over a steady window, as compare.py measures it (after the
        # uas's 4 s timewaits have begun to end, before the last calls).
        window, marks = (4.5, secs - 1.5), []
        while uac.poll() is None and time.time() - start < timeout_s + 15:
            if len(marks) < 2 and time.time() - start >= window[len(marks)]:
                marks.append((time.time(), cpu_ticks(uac.pid), cpu_ticks(server.proc.pid)))
            time.sleep(0.02)
        if uac.poll() is None:
            uac.kill()
        res = {"rate": rate, "calls": calls, "wall": time.time() - start, "rc": uac.wait()}
        if len(marks) == 2 and None not in marks[0] + marks[1]:
            (t0, c0, s0), (t1, c1, s1) = marks
            in_window = rate * (t1 - t0)
            res["window_us_per_call"] = {"uac": (c1 - c0) / HZ * 1e6 / in_window,
                                         "uas": (s1 - s0) / HZ * 1e6 / in_window}
        trace = server.call("GET", "/api/v2/sip/trace?limit=1")
        catalogue = server.call("GET", "/api/v2/calls")
        res["captured"] = trace.get("next", 0)
        res["catalogued"] = len(catalogue.get("calls", []))
        if trace_on and (res["captured"] == 0 or res["catalogued"] == 0):
            raise Failed(f"trace on, but {res['captured']} messages traced and {res['catalogued']} calls catalogued")
        if not trace_on and res["captured"] != 0:
            raise Failed(f"trace off, but {res['captured']} messages traced: {json.dumps(trace)[:300]}")
        try:
            h, rows = read_csv(f"{work}/uac.csv")
            last = rows[-1]
            res["ok"] = col(h, last, "SuccessfulCall(C)")
            res["failed"] = col(h, last, "FailedCall(C)")
            res["retrans"] = col(h, last, "Retransmissions(C)")
            res["achieved"], res["window_s"] = steady_creation(h, rows) or (0.0, 0.0)
        except (OSError, ValueError, IndexError) as e:
            res.update({"ok": 0, "failed": calls, "retrans": 0, "achieved": 0.0, "window_s": 0.0, "error": str(e)})
        return res
    finally:
        if uac is not None and uac.poll() is None:
            uac.kill()
            uac.wait()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def trace_ceiling(binary, trace_on, rates, secs, runs):
    """(the top step that held in `runs` of `runs` runs, {rate: [the server's CPU-µs per
    call in each clean run]})."""
    side = Side("trace on" if trace_on else "trace off")
    best, cpu = 0, {}
    for rate in rates:
        for _ in range(runs):
            r = run_trace(binary, trace_on, rate, secs)
            if not report(side, "u1", r, rate):
                return best, cpu
            if "window_us_per_call" in r:
                cpu.setdefault(rate, []).append(r["window_us_per_call"]["uas"])
        best = rate
    return best, cpu


def part_b(binary, rates, secs, runs):
    off, cpu_off = trace_ceiling(binary, False, rates, secs, runs)
    on, cpu_on = trace_ceiling(binary, True, rates, secs, runs)
    if off == rates[-1] and on == rates[-1]:
        verdict = "not resolved: both held the top step (raise --rates)"
    else:
        cost = 100.0 * (1 - on / max(off, 1))
        verdict = (f"the trace costs {cost:.1f} % of the ceiling (target <= 5 %: {'met' if cost <= 5.0 else 'missed'}; "
                   f"no finer than the ladder's steps)")
    print(f"b. highest rate under compare.py's rule ({secs} s steps, {runs} of {runs} runs; built-in uac -> `gossipper "
          f"server -sn uas`, one core and one shard each): SIP trace off {off:,} cps, on {on:,} cps: on/off "
          f"{on / max(off, 1):.3f}; {verdict}", flush=True)
    both = sorted(set(cpu_off) & set(cpu_on))
    if both:
        r = both[-1]
        a_, b_ = sum(cpu_off[r]) / len(cpu_off[r]), sum(cpu_on[r]) / len(cpu_on[r])
        print(f"b. the server's CPU per call at {r:,} cps (steady 4.5-{secs - 1.5} s window, /proc): trace off "
              f"{a_:.1f} us, on {b_:.1f} us ({100.0 * (b_ / a_ - 1):+.1f} %)", flush=True)
    if on == 0 or off == 0:
        raise Failed(f"b: the lowest step ({rates[0]} cps) did not hold")
    return off, on


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="target/release/gossipper")
    ap.add_argument("--parts", default="ab", help="which of a, b to run")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs (to try the script)")
    ap.add_argument("--rate", type=int, default=20000, help="a: calls/s")
    ap.add_argument("--repeats", type=int, default=3, help="a: times each action is taken")
    ap.add_argument("--settle", type=float, default=0.5, help="a: seconds between actions")
    ap.add_argument("--rates", default=None, help=f"b: the ladder, calls/s (default {LADDER}; --quick: {QUICK_LADDER})")
    ap.add_argument("--secs", type=int, default=13, help="b: seconds of calls per step (13 leaves >= 10 steady)")
    ap.add_argument("--runs", type=int, default=2, help="b: runs a step must pass")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    if not os.path.exists(binary):
        sys.exit(f"{binary}: no such binary (cargo build --release -p gossipper)")
    if "a" in a.parts and (os.geteuid() != 0 or not shutil.which("tcpdump")):
        sys.exit("part a needs root and tcpdump (the INVITEs' capture times)")
    if a.quick:
        a.repeats, a.runs = 1, 1
    rates = [int(x) for x in a.rates.split(",")] if a.rates else (QUICK_LADDER if a.quick else LADDER)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {os.cpu_count()} CPUs; {subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}")
    print(f"rule (b): {RULE}", flush=True)
    failed = []
    for part, run in (("a", lambda: part_a(binary, a.rate, a.repeats, a.settle)),
                      ("b", lambda: part_b(binary, rates, a.secs, a.runs))):
        if part not in a.parts:
            continue
        try:
            run()
        except (Failed, RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            print(f"{part}. FAILED: {e}", flush=True)
            failed.append(part)
    print("server_control: " + (f"FAIL ({', '.join(failed)})" if failed else "ok"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
