#!/usr/bin/env python3
"""Master API latency benchmark (issue 5): list and get endpoints under concurrent clients.

Target: with 1,000 scenarios and 10,000 jobs stored, every list and get endpoint answers
at p99 <= 20 ms under 16 concurrent clients.

What it does, all on 127.0.0.1 with a fresh temp data dir (removed at the end):
  1. starts `gossipper ui` (builds nothing: --bin, else target/release, else target/debug),
     logs in as the bootstrap admin and creates the scenarios through the API
     (POST /api/v2/scenarios with the built-in `uac` XML, so each one passes the engine's
     loader like a real upload);
  2. stops the master and seeds the job rows (plus three artifact rows each) straight
     into settings.sqlite with the schema the master created: jobs are only ever created
     by the supervisor when workers run, which would take hours for 10,000;
  3. restarts the master, checks the counts, warms up, then runs the clients (processes,
     one keep-alive connection each, connected one after another) for a bounded time
     and request count over GET /scenarios, /scenarios/{id}, /jobs?limit=100,
     /jobs/{id}, /builtin-scenarios, /servers, /audit?limit=100 (admin token), in turn,
     ids drawn at random;
  4. prints requests, p50, p90, p99 and max per endpoint with PASS/FAIL against the
     target, the slowest request, and exits 1 if any endpoint misses it (or answered
     anything but 200).
The master is stopped on every exit path. Latency is measured by the client, from
sending the request to having read the whole body, so it includes the Python clients'
own CPU (they share the machine's cores with the master): a conservative figure. The
1-minute load average is printed: on a busy machine the figures mean little.

Usage: perf/api_latency.py [--bin PATH] [--duration 20] [--clients 16]
       [--max-requests 5000] [--scenarios 1000] [--jobs 10000] [--profiles 10]
       [--target-ms 20] [--threads] [--connect-burst]
"""

import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import types

from perfutil import cpu_ticks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER, PASSWORD = "admin", "sipcapture"


def find_bin(given):
    if given:
        return given
    for profile in ("release", "debug"):
        p = os.path.join(ROOT, "target", profile, "gossipper")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    sys.exit("api_latency: no gossipper binary (cargo build --release -p gossipper, or --bin)")


class Master:
    """A `gossipper ui` process on a free loopback port; stop() is idempotent."""

    def __init__(self, binary, data_dir):
        self.proc = subprocess.Popen(
            [binary, "ui", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.port = None
        self.log = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if "listening on http://" in line:
                self.port = int(line.rsplit(":", 1)[1])
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("master did not start:\n" + "".join(self.log))
        # Keep draining stderr so the master never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Client:
    """One keep-alive connection to the master."""

    def __init__(self, port, token=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token

    def call(self, method, path, body=None):
        headers = {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, "/api/v2" + path, body=data, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def json(self, method, path, body=None, expect=200):
        status, text = self.call(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {text[:300]!r}")
        return json.loads(text) if text else None

    def close(self):
        self.conn.close()


def login(port):
    c = Client(port)
    c.token = c.json("POST", "/auth/login", {"username": USER, "password": PASSWORD})["token"]
    return c


def create_scenarios(c, n):
    xml = c.json("GET", "/builtin-scenarios/uac")["xml"]
    ids = []
    for i in range(n):
        sid = f"bench-{i:04d}"
        c.json(
            "POST",
            "/scenarios",
            {
                "id": sid,
                "name": f"Benchmark scenario {i}",
                "description": "perf/api_latency.py seed",
                "role": "uac",
                "tags": ["bench", f"group-{i % 10}"],
                "xml": xml,
            },
            expect=201,
        )
        ids.append(sid)
    return ids


def create_profiles(c, n):
    """n server and n client profiles, so that GET /servers looks up each one's newest job."""
    out = []
    for i in range(n):
        sid, cid = f"bench-uas-{i}", f"bench-uac-{i}"
        c.json("POST", "/servers", {"id": sid, "name": f"UAS {i}", "scenario_ref": "uas"},
               expect=201)
        c.json("POST", "/clients",
               {"id": cid, "name": f"UAC {i}", "scenario_ref": "uac", "remote_ip": "127.0.0.1",
                "remote_port": 5060, "rate": 10}, expect=201)
        out += [("server", sid), ("client", cid)]
    return out


STATUSES = ["succeeded"] * 7 + ["failed"] * 2 + ["stopped"]


def seed_jobs(data_dir, n, profiles, scenario_ids):
    """Inserts n finished jobs (oldest first) and three artifact rows per job."""
    db = sqlite3.connect(os.path.join(data_dir, "settings.sqlite"))
    rng = random.Random(5)
    base = time.time() - n * 60
    ids, jobs, arts = [], [], []
    for i in range(n):
        t = base + i * 60
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t))
        jid = f"j-{stamp}.{i:09d}Z-{rng.randrange(1 << 24):06x}"
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + 30))
        kind, pid_ = profiles[i % len(profiles)]
        status = STATUSES[i % len(STATUSES)]
        adir = os.path.join(data_dir, "artifacts", "jobs", jid)
        args = json.dumps({"rate": 10 + i % 90, "limit": 100, "max_calls": 1000 + i})
        jobs.append(
            (jid, pid_, kind, rng.choice(scenario_ids), status, args, adir, created, created,
             finished, 0 if status == "succeeded" else 1,
             "" if status == "succeeded" else "calls failed", USER, 10000 + i)
        )
        for art, name, size in (("stats", "stats.jsonl", 40960), ("log", "worker.log", 2048),
                                ("summary", "summary.json", 1024)):
            arts.append((jid, art, os.path.join(adir, name), size, finished))
        ids.append(jid)
    with db:
        db.executemany(
            "INSERT INTO jobs (id, profile_id, profile_kind, scenario_id, status, args_json,"
            " artifacts_dir, created_at, started_at, finished_at, exit_code, error, created_by, pid)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            jobs,
        )
        db.executemany(
            "INSERT INTO job_artifacts (job_id, kind, path, size_bytes, created_at)"
            " VALUES (?,?,?,?,?)",
            arts,
        )
    db.close()
    return ids


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def machine_busy(seconds=2.0):
    """Fraction of the machine's CPU busy over `seconds` (other people's work, before ours)."""
    b0, t0 = cpu_times()
    time.sleep(seconds)
    b1, t1 = cpu_times()
    return (b1 - b0) / max(1, t1 - t0)


def percentile(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    # Nearest rank: the smallest value with at least p % of the samples at or below it.
    k = max(0, min(len(sorted_ms) - 1, math.ceil(p / 100.0 * len(sorted_ms)) - 1))
    return sorted_ms[k]


def client_loop(port, token, endpoints, k, start, deadline, max_requests, connect_lock):
    """One client: cycles through the endpoints (from its own offset) until the deadline
    or its request cap. Returns ({name: [ms, ...]}, {name: [error, ...]})."""
    rng = random.Random(k)
    lat = {name: [] for name, _ in endpoints}
    bad = {name: [] for name, _ in endpoints}
    slowest = (0.0, "")
    c = Client(port, token)
    # Connect before the clock starts (the load is requests, not connects), one client at
    # a time unless --connect-burst: tiny_http 0.12 hands each connection to a pool
    # thread for its whole life, and a burst of connects can leave one queued behind
    # the others until one of them closes (seen: a first request answered after 15 s).
    if connect_lock is None:
        c.conn.connect()
    else:
        with connect_lock:
            c.call("GET", "/auth/status")
    start.wait()
    began = time.monotonic()
    i = k
    try:
        while i - k < max_requests and time.monotonic() < deadline.value:
            name, path_of = endpoints[i % len(endpoints)]
            path = path_of(rng)
            i += 1
            t0 = time.perf_counter()
            try:
                status, _ = c.call("GET", path)
            except (OSError, http.client.HTTPException) as e:
                bad[name].append(f"{path}: {e!r}")
                c.close()
                c = Client(port, token)
                continue
            ms = (time.perf_counter() - t0) * 1000.0
            lat[name].append(ms)
            if ms > slowest[0]:
                slowest = (ms, f"{path} (client {k}, request {i - k}, "
                               f"sent at +{t0 - began + time.monotonic() - time.perf_counter():.2f} s)")
            if status != 200:
                bad[name].append(f"{path}: HTTP {status}")
    finally:
        c.close()
    return lat, bad, slowest


def _process_client(q, *args):
    try:
        q.put(client_loop(*args))
    except BaseException as e:  # the parent must always get an answer
        q.put(({}, {"client": [repr(e)]}, (0.0, "")))


def run_clients(port, token, endpoints, clients, duration, max_requests, threads, burst):
    """Runs the clients (processes by default: Python threads would share one interpreter
    lock, and a client waiting for it would be measured as server latency). Returns
    {name: [ms, ...]}, {name: [error, ...]} and the elapsed seconds."""
    lat = {name: [] for name, _ in endpoints}
    errors = {name: [] for name, _ in endpoints}
    slowest = [(0.0, "")]

    def merge(part):
        slowest[0] = max(slowest[0], part[2])
        for name, v in part[0].items():
            lat[name].extend(v)
        for name, v in part[1].items():
            errors.setdefault(name, []).extend(v)

    # CLOCK_MONOTONIC is system-wide, so one deadline serves every process.
    if threads:
        start = threading.Barrier(clients + 1)
        connect_lock = None if burst else threading.Lock()
        deadline = types.SimpleNamespace(value=float("inf"))
        results, lock = [], threading.Lock()

        def worker(k):
            r = client_loop(port, token, endpoints, k, start, deadline, max_requests,
                            connect_lock)
            with lock:
                results.append(r)

        workers = [threading.Thread(target=worker, args=(k,), daemon=True)
                   for k in range(clients)]
    else:
        ctx = multiprocessing.get_context("fork")  # endpoints hold lambdas: no pickling
        start = ctx.Barrier(clients + 1)
        connect_lock = None if burst else ctx.Lock()
        deadline = ctx.Value("d", float("inf"), lock=False)
        q = ctx.Queue()
        workers = [
            ctx.Process(target=_process_client, daemon=True,
                        args=(q, port, token, endpoints, k, start, deadline, max_requests,
                              connect_lock))
            for k in range(clients)
        ]
    for w in workers:
        w.start()
    deadline.value = time.monotonic() + duration
    start.wait(timeout=60)
    t0 = time.monotonic()
    if threads:
        for w in workers:
            w.join(duration + 60)
        for r in results:
            merge(r)
    else:
        for _ in workers:
            merge(q.get(timeout=duration + 60))
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.kill()
    return lat, errors, time.monotonic() - t0, slowest[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="gossipper binary (default: target/release, else target/debug)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-requests", type=int, default=5000, help="cap per client")
    ap.add_argument("--scenarios", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--profiles", type=int, default=10, help="server and client profiles each")
    ap.add_argument("--target-ms", type=float, default=20.0, help="p99 target (default 20)")
    ap.add_argument("--threads", action="store_true",
                    help="clients as threads of this process instead of processes")
    ap.add_argument("--connect-burst", action="store_true",
                    help="connect every client at once (reproduces tiny_http's stranded "
                         "connection: one client's first request waits for another to close)")
    args = ap.parse_args()
    binary = find_bin(args.bin)
    # With --threads: a shorter GIL switch interval keeps a client thread that has its
    # reply from waiting 5 ms for the interpreter (measured as server latency).
    sys.setswitchinterval(0.0005)

    data_dir = tempfile.mkdtemp(prefix="gossipper-api-latency-")
    master = None
    try:
        print(f"binary: {binary}")
        t = time.monotonic()
        master = Master(binary, data_dir)
        c = login(master.port)
        scenario_ids = create_scenarios(c, args.scenarios)
        profiles = create_profiles(c, args.profiles)
        c.close()
        print(f"created {len(scenario_ids)} scenarios and {len(profiles)} profiles through the API in "
              f"{time.monotonic() - t:.1f} s")
        master.stop()

        t = time.monotonic()
        job_ids = seed_jobs(data_dir, args.jobs, profiles, scenario_ids)
        print(f"seeded {len(job_ids)} jobs ({3 * len(job_ids)} artifact rows) into "
              f"settings.sqlite in {time.monotonic() - t:.1f} s")

        master = Master(binary, data_dir)
        c = login(master.port)
        got_jobs = c.json("GET", "/jobs?limit=1")["total"]
        got_scen = len(c.json("GET", "/scenarios")["scenarios"])
        if got_jobs != len(job_ids) or got_scen != len(scenario_ids):
            raise RuntimeError(f"master sees {got_jobs} jobs and {got_scen} scenarios")
        token = c.token

        endpoints = [
            ("GET /scenarios", lambda r: "/scenarios"),
            ("GET /scenarios/{id}", lambda r: "/scenarios/" + r.choice(scenario_ids)),
            ("GET /jobs?limit=100", lambda r: "/jobs?limit=100"),
            ("GET /jobs/{id}", lambda r: "/jobs/" + r.choice(job_ids)),
            ("GET /builtin-scenarios", lambda r: "/builtin-scenarios"),
            ("GET /servers", lambda r: "/servers"),
            ("GET /audit?limit=100", lambda r: "/audit?limit=100"),
        ]
        rng = random.Random(0)
        for _ in range(5):  # warm-up: page cache, prepared statements
            for name, path_of in endpoints:
                status, _ = c.call("GET", path_of(rng))
                if status != 200:
                    raise RuntimeError(f"warm-up {name}: HTTP {status}")
        c.close()

        print(f"load: {args.clients} clients ({'threads' if args.threads else 'processes'}, "
              f"one keep-alive connection each), {args.duration:g} s, at most "
              f"{args.max_requests} requests each, {len(endpoints)} endpoints in turn")
        busy_before = machine_busy()
        master_ticks = cpu_ticks(master.proc.pid)
        lat, errors, elapsed, slowest = run_clients(
            master.port, token, endpoints, args.clients, args.duration, args.max_requests,
            args.threads, args.connect_burst,
        )
        master_cpu = (cpu_ticks(master.proc.pid) - master_ticks) / os.sysconf("SC_CLK_TCK")
        total = sum(len(v) for v in lat.values())
        print(f"{total} requests in {elapsed:.1f} s ({total / elapsed:.0f} req/s); the master "
              f"used {100 * master_cpu / elapsed:.0f} % of one CPU "
              f"({1e6 * master_cpu / max(1, total):.0f} us per request); "
              f"{os.cpu_count()} CPUs were {100 * busy_before:.0f} % busy just before")
        if busy_before > 0.25:
            print("WARNING: the machine was busy before the run started (other builds or "
                  "tests): figures are pessimistic, run again on a quiet machine")
        print()
        head = f"{'endpoint':<24} {'requests':>8} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  result"
        print(head + "   (ms)")
        print("-" * len(head))
        failed = False
        for name, _ in endpoints:
            ms = sorted(lat[name])
            p99 = percentile(ms, 99)
            ok = bool(ms) and p99 <= args.target_ms and not errors[name]
            failed |= not ok
            verdict = "PASS" if ok else "FAIL"
            if errors[name]:
                verdict += f" ({len(errors[name])} errors, e.g. {errors[name][0]})"
            print(f"{name:<24} {len(ms):>8} {percentile(ms, 50):>7.2f} {percentile(ms, 90):>7.2f} "
                  f"{p99:>7.2f} {ms[-1] if ms else float('nan'):>7.2f}  {verdict}")
        print(f"\nslowest request: {slowest[0]:.2f} ms, GET {slowest[1]}")
        print(f"target: p99 <= {args.target_ms:g} ms per endpoint: "
              f"{'FAIL' if failed else 'PASS'}")
        return 1 if failed else 0
    finally:
        if master is not None:
            master.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
