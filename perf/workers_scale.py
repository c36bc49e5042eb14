#!/usr/bin/env python3
"""One run on many workers (issue 20, item 6): what the merge costs, how together the
workers start, and what a second worker in its own network namespace adds on this host.

  a. merge overhead: a `gossipper ui` job with `workers: 8` whose workers each send a
     per-second `state` line of the real format (taken from a real 2-worker job run just
     before) at the volume of 50,000 calls/s, every histogram full (all 2,112 buckets of
     each non-empty: the largest line the engine writes). Eight real workers at 50,000
     calls/s each cannot run on 2 cores, so the lines are synthetic: the job asks for
     `worker_netns` and a stand-in `ip` first on the master's PATH takes the place of
     `ip netns exec NS gossipper worker --spec …`, printing the lines instead of running
     SIP. The merge runs in the job's fan-out process (master/src/worker/fanout.rs, a
     child of the master); its CPU (and the master's, which tees the merged line) is
     read from /proc over a steady window: % of a core and CPU-µs per merged worker line.
  b. start skew: N = 2..8 SIPp-style processes (`gossipper … -segment i/N -start_at T`)
     against one uas on 127.0.0.1; tcpdump on lo dates each one's first INVITE (µs);
     segment i opens its first call i/rate after T by design, so the skew is the spread
     (max - min) of (first INVITE - i/rate), in ms, the worst of `--repeats` runs per N.
  c. 2 workers in 2 network namespaces (each its own veth pair and source address,
     10.x.i.2) against one uas on the host end of the first pair, against 1 worker in one
     namespace: the highest rate each holds under perf/compare.py's rule (the workers'
     achieved creation rates, from their own per-second -trace_stat CSV rows over a steady
     window of >= 10 s, add up to >= 97 % of the target; zero failed calls, exit 0,
     retransmissions < 0.1 %; 2 of 2 runs), stepping the rate; both ceilings and the ratio.
     Processes are not pinned (three processes share the two cores), one shard each
     (`--uas-shards` for the uas).

Every process has a -timeout and every run a bounded call count; SIP stays on 127.0.0.1
and on the namespaces' veth pairs, which are deleted on exit (also after an error or
SIGTERM). Needs root (ip netns), tcpdump and a release build. Exits non-zero when a run a
figure relies on failed.

Usage: perf/workers_scale.py [--bin target/release/gossipper] [--parts abc] [--quick]
"""

import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from compare import MAX_RETRANS, MESSAGES_PER_CALL, MIN_ACHIEVED, MIN_WINDOW_S, RULE, col, read_csv, steady_creation
from master_overhead import Api
from perfutil import INVITE_FILTER, Capture, Ports, cpu_ticks, udp_packets

HZ = os.sysconf("SC_CLK_TCK")
free_port = Ports(33000, step=2).next
# The histogram's layout (engine/proto/src/stats/timing.rs): 64 sub-buckets for each of 33
# powers of two; a bucket is named by its lowest value in µs.
HIST_SUB, HIST_POWERS = 64, 33
# (c) The rates stepped through, calls/s.
LADDER = [5000, 10000, 15000, 20000, 25000, 30000, 35000, 40000]
QUICK_LADDER = [5000, 15000, 25000]


class Failed(Exception):
    """A run a figure relies on did not go as it must."""


def bucket_lows():
    out = []
    for idx in range(HIST_SUB * HIST_POWERS):
        if idx < HIST_SUB:
            out.append(idx)
        else:
            out.append((HIST_SUB + idx % HIST_SUB) << (idx // HIST_SUB - 1))
    return out


# The stand-in for `ip netns exec NS gossipper worker --spec FILE`: prints a worker's lines
# (started, plan, then a state and a stats line every stats_interval_ms from the spec's
# start instant, then exit) from the template, scaled to PERF_WS_CPS calls/s with every
# histogram bucket non-empty, for PERF_WS_SECS seconds or until SIGTERM. Any other `ip`
# command goes to the real one.
FAKE_IP = r'''#!/usr/bin/env python3
import copy, json, os, signal, sys, time
args = sys.argv[1:]
if len(args) < 6 or args[:2] != ["netns", "exec"] or args[4] != "worker" or "--spec" not in args:
    os.execv(os.environ["PERF_WS_REAL_IP"], ["ip"] + args)
spec = json.load(open(args[args.index("--spec") + 1]))
tpl = json.load(open(os.environ["PERF_WS_TEMPLATE"]))
cps, secs = float(os.environ["PERF_WS_CPS"]), float(os.environ["PERF_WS_SECS"])
lows = json.loads(os.environ["PERF_WS_LOWS"])
job, eng = spec["job_id"], spec["run"]["engine"]
start, interval = eng["start_at_unix_ms"] / 1000.0, spec["stats_interval_ms"] / 1000.0
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
now_ms = lambda: int(time.time() * 1000)
def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()
def full(ts, calls):
    ts["count"] = calls
    avg = ts["sum_us"] / max(ts.get("count_tpl", 1), 1)
    ts["sum_us"] = int(avg * calls)
    ts["sum_sq_ms"] = (avg / 1000.0) ** 2 * calls
    ts["min_us"], ts["max_us"], ts["last_us"] = lows[0], lows[-1], int(avg)
    ts["repartition"] = [calls] + [0] * (len(ts["repartition"]) - 1)
    each, extra = divmod(calls, len(lows))
    ts["histogram"] = [[v, each + (1 if i < extra else 0)] for i, v in enumerate(lows)]
    ts.pop("count_tpl", None)
state_tpl, stats_tpl = tpl["state"], tpl["stats"]
per_call = {k: v / max(tpl["calls"], 1) for k, v in state_tpl["counters"].items() if isinstance(v, (int, float))}
emit({"kind": "started", "job_id": job, "pid": os.getpid(), "ts": now_ms()})
plan = dict(tpl["plan"]); plan["job_id"] = job; plan["ts"] = now_ms(); emit(plan)
k = 1
while not stopped and k * interval <= secs:
    wait = start + k * interval - time.time()
    if wait > 0:
        time.sleep(wait)
        if stopped:
            break
    calls = int(cps * k * interval)
    s = copy.deepcopy(state_tpl)
    for key, r in per_call.items():
        s["counters"][key] = int(r * calls)
    s["counters"]["outgoing_calls"] = calls
    s["counters"]["successful_calls"] = calls
    s["counters"]["failed_calls"] = 0
    for ts in s["rtd"] + [s["call_length"]]:
        ts["count_tpl"] = ts["count"]
        full(ts, calls)
    for st in s["steps"]:
        st["messages"] = calls
    s["last_call_us"] = int(k * interval * 1e6)
    ts_ms = now_ms()
    emit({"kind": "state", "job_id": job, "ts": ts_ms, "state": s})
    line = dict(stats_tpl)
    line.update({"job_id": job, "ts": ts_ms, "calls_created": calls, "calls_succeeded": calls, "cps": cps})
    emit(line)
    k += 1
emit({"kind": "exit", "job_id": job, "code": 0, "stopped": bool(stopped), "ts": now_ms()})
'''


class Namespaces:
    """N network namespaces, each joined to the host by its own veth pair: 10.<net>.<i>.1
    on the host end, 10.<net>.<i>.2 inside (default route through the host end). Deleted
    by close() (deleting a namespace deletes the veth inside it and so its host end)."""

    def __init__(self, n):
        tag = os.getpid() % 100000
        self.net = 150 + tag % 50
        self.names, self.links = [], []
        try:
            for i in range(n):
                name, host, inside = f"gpws{tag}w{i}", f"gpwh{tag}w{i}", f"gpwn{tag}w{i}"
                ip("netns", "add", name)
                self.names.append(name)
                ip("link", "add", host, "type", "veth", "peer", "name", inside)
                self.links.append(host)
                ip("link", "set", inside, "netns", name)
                ip("addr", "add", f"10.{self.net}.{i}.1/24", "dev", host)
                ip("link", "set", host, "up")
                for cmd in (("addr", "add", f"10.{self.net}.{i}.2/24", "dev", inside), ("link", "set", inside, "up"),
                            ("link", "set", "lo", "up"), ("route", "add", "default", "via", f"10.{self.net}.{i}.1")):
                    ip("netns", "exec", name, "ip", *cmd)
        except Exception:
            self.close()
            raise

    def host(self, i):
        return f"10.{self.net}.{i}.1"

    def inside(self, i):
        return f"10.{self.net}.{i}.2"

    def close(self):
        for n in self.names:
            subprocess.run(["ip", "netns", "delete", n], capture_output=True)
        for link in self.links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        self.names, self.links = [], []


def ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise Failed(f"ip {' '.join(args)}: {r.stderr.strip()}")


class Procs:
    """Every process a part starts, ended on close() (by its own pid)."""

    def __init__(self):
        self.all = []

    def start(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, **kw)
        self.all.append(p)
        return p

    def close(self):
        """SIGTERM to each (the master passes it on to its jobs' workers), SIGKILL to
        those still running 10 s later."""
        for p in self.all:
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 10
        for p in self.all:
            try:
                p.wait(timeout=max(end - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.all = []


def uas_cmd(binary, addr, port, timeout_s, shards=1):
    return [binary, "-sn", "uas", "-i", addr, "-p", str(port), "-nostdin", "-shards", str(shards),
            "-timeout", f"{int(timeout_s)}s"]


def start_master(binary, procs, data, env):
    log = open(data + ".log", "w+")
    ui = procs.start([binary, "ui", "--data-dir", data, "--listen", "127.0.0.1:0"], stderr=log, env=env)
    for _ in range(300):
        log.seek(0)
        m = re.search(r"listening on http://([0-9.]+):(\d+)", log.read())
        if m:
            api = Api(f"http://{m.group(1)}:{m.group(2)}")
            api.token = api.call("POST", "/auth/login", {"username": "admin", "password": "sipcapture"})["token"]
            return ui, api
        if ui.poll() is not None:
            break
        time.sleep(0.1)
    log.seek(0)
    raise Failed(f"gossipper ui did not start: {log.read()[-500:]}")


def wait_job(api, jid, timeout_s):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        job = api.call("GET", f"/jobs/{jid}")["job"]
        if job["finished_at"]:
            return job
        time.sleep(0.2)
    api.call("POST", f"/jobs/{jid}/stop")
    raise Failed(f"job {jid} did not end within {timeout_s} s")


def stop_jobs(api, jobs):
    """Stops the jobs still running (a master that is sent SIGTERM leaves its jobs'
    workers running), then their worker processes if still there (SIGTERM, by pid)."""
    for jid, pid in jobs:
        try:
            if not api.call("GET", f"/jobs/{jid}")["job"]["finished_at"]:
                api.call("POST", f"/jobs/{jid}/stop")
                wait_job(api, jid, 15)
        except (Failed, OSError, ValueError, KeyError):
            pass
        try:
            # Only the job's own worker: its command line names the job's folder.
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if jid.encode() in f.read():
                    os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def lines_of(path, kind):
    """(count, bytes) of the lines of `kind` in a worker's stats.jsonl."""
    n = size = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                if b'"kind":"' + kind.encode() + b'"' in line[:20]:
                    n += 1
                    size += len(line)
    except OSError:
        pass
    return n, size


def part_a(binary, workers, cps, window, procs):
    """Merge overhead: see the module doc."""
    work = tempfile.mkdtemp(prefix="perf-ws-a-")
    data = os.path.join(work, "data")
    secs = window + 6
    fake_dir = os.path.join(work, "bin")
    os.mkdir(fake_dir)
    fake = os.path.join(fake_dir, "ip")
    with open(fake, "w") as f:
        f.write(FAKE_IP)
    os.chmod(fake, stat.S_IRWXU)
    template = os.path.join(work, "template.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIPPER_")}
    env.update({"PATH": fake_dir + os.pathsep + env.get("PATH", ""), "PERF_WS_REAL_IP": shutil.which("ip"),
                "PERF_WS_TEMPLATE": template, "PERF_WS_CPS": str(cps), "PERF_WS_SECS": str(secs),
                "PERF_WS_LOWS": json.dumps(bucket_lows())})
    api, jobs = None, []  # jobs: (id, the pid of its worker) to stop on the way out
    try:
        port = free_port()
        procs.start(uas_cmd(binary, "127.0.0.1", port, 120))
        ui, api = start_master(binary, procs, data, env)
        api.call("POST", "/clients", {"id": "perf-ws", "scenario_ref": "uac", "remote_ip": "127.0.0.1",
                                      "remote_port": port, "rate": 100,
                                      "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": True}]})
        # A real 2-worker job first: the lines' real format, which the stand-in scales.
        real = api.call("POST", "/jobs", {"profile_id": "perf-ws", "profile_kind": "client", "workers": 2,
                                          "engine": {"total_calls": 200, "rate": 100, "shards": 1}})
        jobs.append((real["id"], real["pid"]))
        job = wait_job(api, real["id"], 60)
        if job["status"] != "succeeded":
            raise Failed(f"the real 2-worker job ended {job['status']}: {job.get('error')}")
        wdir = os.path.join(real["artifacts_dir"], "workers", "0")
        got = {}
        for line in open(os.path.join(wdir, "stats.jsonl")):
            obj = json.loads(line)
            got[obj["kind"]] = obj
        if not all(k in got for k in ("plan", "state", "stats")):
            raise Failed(f"the real worker printed no plan/state/stats line ({sorted(got)})")
        calls = got["state"]["state"]["counters"]["outgoing_calls"]
        with open(template, "w") as f:
            json.dump({"plan": got["plan"], "state": got["state"]["state"], "stats": got["stats"], "calls": calls}, f)

        fake_job = api.call("POST", "/jobs", {
            "profile_id": "perf-ws", "profile_kind": "client", "workers": workers,
            "worker_netns": [f"perf-fake-{i}" for i in range(workers)],
            "engine": {"total_calls": int(cps * workers * secs), "rate": cps * workers, "shards": 1}})
        fan_pid, jdir = fake_job["pid"], fake_job["artifacts_dir"]
        jobs.append((fake_job["id"], fan_pid))
        # The fan-out starts its workers 1 s + 100 ms a worker ahead; 2 s more for the
        # lines to flow (the first state lines are the largest reads: every bucket new).
        time.sleep(1.0 + 0.1 * workers + 2.0)
        files = [os.path.join(jdir, "workers", str(i), "stats.jsonl") for i in range(workers)]
        n0 = sum(lines_of(p, "state")[0] for p in files)
        t0, f0, m0 = time.monotonic(), cpu_ticks(fan_pid), cpu_ticks(ui.pid)
        time.sleep(window)
        t1, f1, m1 = time.monotonic(), cpu_ticks(fan_pid), cpu_ticks(ui.pid)
        counts = [lines_of(p, "state") for p in files]
        n1 = sum(c[0] for c in counts)
        job = wait_job(api, fake_job["id"], secs + 30)
        if None in (f0, f1, m0, m1):
            raise Failed("the fan-out or the master ended during the window")
        merged = lines_of(os.path.join(jdir, "stats.jsonl"), "stats")[0]
        merged_lines = n1 - n0
        if merged_lines <= 0 or merged == 0:
            raise Failed(f"no state line was merged in the window (job {job['status']}: {job.get('error')})")
        if job["status"] != "succeeded":
            raise Failed(f"the {workers}-worker job ended {job['status']}: {job.get('error')}")
        summary = json.load(open(os.path.join(jdir, "summary.json")))
        want = int(cps * (secs // 1)) * workers
        if summary.get("total_calls") != want:
            raise Failed(f"the merged summary counts {summary.get('total_calls')} calls, not the workers' sum {want}")
        line_kib = sum(c[1] for c in counts) / max(n1, 1) / 1024
        span = t1 - t0
        fan_pct = 100.0 * (f1 - f0) / HZ / span
        ui_pct = 100.0 * (m1 - m0) / HZ / span
        per_line = (f1 - f0) / HZ * 1e6 / merged_lines
        print(f"a. merge, {workers} workers x {cps:,.0f} calls/s, 1 state line/s each ({line_kib:.0f} KiB, every "
              f"histogram's {HIST_SUB * HIST_POWERS} buckets non-empty; synthetic lines of the real format from a stand-in "
              f"`ip netns exec`), {span:.1f} s window: fan-out {fan_pct:.2f} % of a core = {per_line:.0f} CPU-us per merged "
              f"line ({merged_lines} lines; one core would merge {1e6 / per_line:,.0f} such lines/s); master "
              f"{ui_pct:.2f} % of a core (/proc ticks: {100.0 / HZ / span:.2f} % resolution); merged summary "
              f"{want:,} calls = the sum",
              flush=True)
        return True
    finally:
        stop_jobs(api, jobs)
        procs.close()
        shutil.rmtree(work, ignore_errors=True)


def part_b(binary, counts, repeats, rate, procs):
    """Start skew: see the module doc. Returns {N: worst skew ms}."""
    work = tempfile.mkdtemp(prefix="perf-ws-b-")
    worst = {}
    try:
        port = free_port()
        procs.start(uas_cmd(binary, "127.0.0.1", port, 60 + 15 * len(counts) * repeats))
        for n in counts:
            for r in range(repeats):
                pcap = os.path.join(work, f"skew-{n}-{r}.pcap")
                cap = Capture(pcap, f"udp and dst port {port} and {INVITE_FILTER}").start()
                start_at = int(time.time() * 1000) + 1000 + 100 * n
                ports, ps = [free_port() for _ in range(n)], []
                for i in range(n):
                    ps.append(procs.start([binary, f"127.0.0.1:{port}", "-sn", "uac", "-i", "127.0.0.1",
                                           "-p", str(ports[i]), "-r", str(rate), "-m", str(2 * n), "-shards", "1",
                                           "-segment", f"{i}/{n}", "-start_at", str(start_at), "-nostdin",
                                           "-timeout", "20s"]))
                rcs = []
                for p in ps:
                    try:
                        rcs.append(p.wait(timeout=30))
                    except subprocess.TimeoutExpired:
                        p.kill()
                        rcs.append(p.wait())
                dropped = cap.stop()
                if any(rcs):
                    raise Failed(f"skew, N={n}: a process exited {rcs}")
                if dropped:
                    raise Failed(f"skew, N={n}: tcpdump lost {dropped} packets")
                first = {}
                for ts, _, sport, _, head in udp_packets(pcap):
                    if head.startswith(b"INVITE ") and sport not in first:
                        first[sport] = ts
                if len(first) != n:
                    raise Failed(f"skew, N={n}: first INVITEs of {len(first)} of {n} processes captured")
                # Segment i's first call is due i/rate after the common start.
                due = [first[ports[i]] - i / rate for i in range(n)]
                skew = (max(due) - min(due)) * 1000
                late = [(d - start_at / 1000) * 1000 for d in due]
                worst[n] = max(worst.get(n, 0.0), skew)
                at = ", ".join(f"{x:+.2f}" for x in late)
                print(f"   N={n} run {r + 1}: first INVITEs (less i/rate) at {at} ms from "
                      f"-start_at: skew {skew:.2f} ms", flush=True)
        print("b. start skew (max - min of each process's first INVITE less its phase i/rate, tcpdump on lo, "
              f"1 us stamps, {repeats} runs, worst shown): "
              + ", ".join(f"N={n}: {worst[n]:.2f} ms" for n in counts), flush=True)
        return worst
    finally:
        procs.close()
        shutil.rmtree(work, ignore_errors=True)


def run_workers(binary, ns, n, rate, secs, uas_shards, procs):
    """One run of `n` workers (worker i in namespace i) against a uas on the host end of
    the first pair. Returns the per-run figures compare.py's rule reads."""
    work = tempfile.mkdtemp(prefix="perf-ws-c-")
    calls = int(rate * secs)
    timeout_s = int(secs * 3 + 20)
    try:
        port = free_port()
        uas = procs.start(uas_cmd(binary, ns.host(0), port, timeout_s + 20, uas_shards))
        time.sleep(0.5)
        start_at = int(time.time() * 1000) + 1000 + 100 * n
        ps = []
        for i in range(n):
            cmd = ["ip", "netns", "exec", ns.names[i], binary, f"{ns.host(0)}:{port}", "-sn", "uac",
                   "-i", ns.inside(i), "-p", str(free_port()), "-r", str(rate), "-m", str(calls),
                   "-l", str(max(3 * rate, calls)), "-shards", "1", "-start_at", str(start_at),
                   "-nostdin", "-timeout", f"{timeout_s}s", "-trace_stat", "-stf", f"{work}/w{i}.csv", "-fd", "1"]
            if n > 1:
                cmd += ["-segment", f"{i}/{n}"]
            ps.append(procs.start(cmd))
        rcs = []
        for p in ps:
            try:
                rcs.append(p.wait(timeout=timeout_s + 15))
            except subprocess.TimeoutExpired:
                p.kill()
                rcs.append(p.wait())
        uas.send_signal(signal.SIGUSR1)
        res = {"rc": max(rcs), "ok": 0, "failed": 0, "retrans": 0, "achieved": 0.0, "window_s": None}
        for i in range(n):
            try:
                h, rows = read_csv(f"{work}/w{i}.csv")
                last = rows[-1]
                res["ok"] += col(h, last, "SuccessfulCall(C)")
                res["failed"] += col(h, last, "FailedCall(C)")
                res["retrans"] += col(h, last, "Retransmissions(C)")
                achieved, window = steady_creation(h, rows) or (0.0, 0.0)
            except (OSError, ValueError, IndexError) as e:
                res["failed"] += calls
                achieved, window = 0.0, 0.0
                res["error"] = str(e)
            res["achieved"] += achieved
            res["window_s"] = window if res["window_s"] is None else min(res["window_s"], window)
        res["calls"] = calls
        return res
    finally:
        procs.close()
        shutil.rmtree(work, ignore_errors=True)


def clean(r, rate):
    """compare.py's RULE for one run, the workers' rates added."""
    return (r["failed"] == 0 and r["rc"] == 0 and r["ok"] >= r["calls"] and r["window_s"] >= MIN_WINDOW_S
            and r["achieved"] >= MIN_ACHIEVED * rate and r["retrans"] < MAX_RETRANS * MESSAGES_PER_CALL * r["calls"])


def ceiling(binary, ns, n, rates, secs, runs, uas_shards, procs):
    best = 0
    for rate in rates:
        for _ in range(runs):
            r = run_workers(binary, ns, n, rate, secs, uas_shards, procs)
            ok = clean(r, rate)
            print(f"   {n} worker(s) {rate:>7} cps: achieved={r['achieved']:.0f} over {r['window_s']:.1f}s "
                  f"ok={int(r['ok'])} failed={int(r['failed'])} retrans={int(r['retrans'])} rc={r['rc']} "
                  f"{'CLEAN' if ok else 'FAIL'}", flush=True)
            if not ok:
                return best
        best = rate
    return best


def part_c(binary, rates, secs, runs, uas_shards, procs):
    ns = Namespaces(2)
    try:
        one = ceiling(binary, ns, 1, rates, secs, runs, uas_shards, procs)
        two = ceiling(binary, ns, 2, rates, secs, runs, uas_shards, procs)
    finally:
        ns.close()
    top = " (the top step: a floor)"
    print(f"c. highest rate under compare.py's rule ({secs} s steps, {runs} of {runs} runs; uac workers in network "
          f"namespaces over veth, one uas on the host with {uas_shards} shard(s), unpinned, 1 shard a worker): "
          f"1 worker {one:,} cps"
          f"{top if one == rates[-1] else ''}, 2 workers {two:,} cps{top if two == rates[-1] else ''}: "
          f"ratio {two / max(one, 1):.2f}", flush=True)
    if one == 0 or two == 0:
        raise Failed(f"c: the lowest step ({rates[0]} cps) did not hold")
    return one, two


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="target/release/gossipper")
    ap.add_argument("--parts", default="abc", help="which of a, b, c to run")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs (to try the script)")
    ap.add_argument("--workers", type=int, default=8, help="a: workers")
    ap.add_argument("--cps", type=float, default=50000, help="a: calls/s each worker's lines count")
    ap.add_argument("--window", type=float, default=20, help="a: seconds measured")
    ap.add_argument("--max-n", type=int, default=8, help="b: the largest N")
    ap.add_argument("--repeats", type=int, default=3, help="b: runs per N")
    ap.add_argument("--rates", default=None, help=f"c: the ladder, calls/s (default {LADDER}; --quick: {QUICK_LADDER})")
    ap.add_argument("--secs", type=int, default=13, help="c: seconds of calls per step (13 leaves >= 10 steady)")
    ap.add_argument("--runs", type=int, default=2, help="c: runs a step must pass")
    ap.add_argument("--uas-shards", type=int, default=1, help="c: the uas's shards")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("workers_scale.py needs root (ip netns, tcpdump)")
    for tool in ("ip", "tcpdump"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required")
    binary = os.path.abspath(a.bin)
    if not os.path.exists(binary):
        sys.exit(f"{binary}: no such binary (cargo build --release -p gossipper)")
    rates = [int(x) for x in a.rates.split(",")] if a.rates else (QUICK_LADDER if a.quick else LADDER)
    if a.quick:
        a.window, a.repeats, a.runs, a.max_n = min(a.window, 5), 1, 1, min(a.max_n, 4)
    # SIGTERM/SIGINT end the script through its `finally` blocks (processes, namespaces).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {os.cpu_count()} CPUs; {subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}")
    print(f"rule (c): {RULE}", flush=True)
    procs, failed = Procs(), []
    for part, run in (("a", lambda: part_a(binary, a.workers, a.cps, a.window, procs)),
                      ("b", lambda: part_b(binary, list(range(2, a.max_n + 1)), a.repeats, 100, procs)),
                      ("c", lambda: part_c(binary, rates, a.secs, a.runs, a.uas_shards, procs))):
        if part not in a.parts:
            continue
        try:
            run()
        except (Failed, RuntimeError, OSError, ValueError, KeyError) as e:
            print(f"{part}. FAILED: {e}", flush=True)
            failed.append(part)
        finally:
            procs.close()
    print("workers_scale: " + (f"FAIL ({', '.join(failed)})" if failed else "ok"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
