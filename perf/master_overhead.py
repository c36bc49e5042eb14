#!/usr/bin/env python3
"""Master overhead benchmark: what running jobs and live subscribers cost `gossipper ui`.

Starts a real `gossipper ui` on 127.0.0.1 (temp data dir), then measures the master's own
CPU time (utime + stime from /proc/<pid>/stat; the workers are separate processes) over
a fixed window in three phases:
  0. idle master (baseline);
  1. a UAS job plus a UAC soak job at full rate, each streaming 1 Hz stats lines that the
     master tees into stats.jsonl (target: < 1 % of a core);
  2. the same, plus 50 concurrent /api/v2/live WebSocket subscribers at the default
     1 s interval (target: < 5 % of a core).
Prints one line per phase and exits non-zero if a target is missed. All traffic stays on
127.0.0.1; every phase is bounded in time; the jobs are stopped at the end.

Usage: perf/master_overhead.py [--bin target/release/gossipper] [--window 10] [--rate 5000]
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from perfutil import cpu_ticks

TICK = os.sysconf("SC_CLK_TCK")


def measure(pid, window):
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(window)
    t1, c1 = time.monotonic(), cpu_ticks(pid)
    return 100.0 * (c1 - c0) / TICK / (t1 - t0)


class Api:
    def __init__(self, base):
        self.base = base
        self.token = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + "/api/v2" + path, data=data, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return json.loads(text) if text else None


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ws_subscribe(host, port, token):
    """Opens /api/v2/live as a WebSocket; returns the socket (frames are drained later)."""
    s = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /api/v2/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("live: connection closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError("live: no 101: " + head.decode(errors="replace"))
    s.setblocking(False)
    return s


def drain(socks):
    total = 0
    for s in socks:
        while True:
            try:
                b = s.recv(1 << 16)
            except BlockingIOError:
                break
            if not b:
                raise RuntimeError("a /live subscriber was disconnected")
            total += len(b)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--subscribers", type=int, default=50)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = a.bin or next(
        (p for p in (f"{root}/target/release/gossipper", f"{root}/target/debug/gossipper") if os.path.exists(p)),
        None,
    )
    if not binary:
        sys.exit("no gossipper binary; build it first")
    data = tempfile.mkdtemp(prefix="gossipper-perf-master-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIPPER_")}
    log = open(data + ".log", "w+")
    ui = subprocess.Popen([binary, "ui", "--data-dir", data, "--listen", "127.0.0.1:0"], stderr=log, env=env)
    failed = False
    try:
        addr = None
        for _ in range(300):
            log.seek(0)
            m = re.search(r"listening on http://([0-9.]+):(\d+)", log.read())
            if m:
                addr = (m.group(1), int(m.group(2)))
                break
            time.sleep(0.1)
        if not addr:
            sys.exit("gossipper ui did not start")
        api = Api(f"http://{addr[0]}:{addr[1]}")
        api.token = api.call("POST", "/auth/login", {"username": "admin", "password": "sipcapture"})["token"]
        port = free_udp_port()
        api.call("POST", "/servers", {"id": "perf-uas", "scenario_ref": "uas",
                                      "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "local_port": port, "enabled": True}]})
        api.call("POST", "/clients", {"id": "perf-uac", "scenario_ref": "uac", "remote_ip": "127.0.0.1", "remote_port": port,
                                      "rate": a.rate, "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": True}]})

        idle = measure(ui.pid, a.window)
        print(f"phase 0  idle master:                         {idle:6.2f} % of a core")

        server = api.call("POST", "/servers/perf-uas/start", {"engine": {"shards": 1}})
        time.sleep(1.5)
        client = api.call("POST", "/clients/perf-uac/start", {"engine": {"total_calls": 0, "max_concurrent": 100000, "shards": 1}})
        time.sleep(2.0)
        one = measure(ui.pid, a.window)
        lines = sum(1 for _ in open(f"{data}/artifacts/jobs/{client['id']}/stats.jsonl"))
        job = api.call("GET", f"/jobs/{client['id']}")["job"]
        last = json.loads(open(f"{data}/artifacts/jobs/{client['id']}/stats.jsonl").read().splitlines()[-1])
        print(f"phase 1  UAS + UAC soak at full rate, 1 Hz:   {one:6.2f} % of a core "
              f"(target < 1 %; client {job['status']}, {lines} lines, {last.get('cps', 0):.0f} calls/s)")
        failed |= one >= 1.0

        socks = [ws_subscribe(addr[0], addr[1], api.token) for _ in range(a.subscribers)]
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            drain(socks)
            time.sleep(0.05)
        t0, c0 = time.monotonic(), cpu_ticks(ui.pid)
        received = 0
        while time.monotonic() - t0 < a.window:
            received += drain(socks)
            time.sleep(0.05)
        live = 100.0 * (cpu_ticks(ui.pid) - c0) / TICK / (time.monotonic() - t0)
        print(f"phase 2  + {a.subscribers} /live subscribers:              {live:6.2f} % of a core "
              f"(target < 5 %; {received / a.window / 1024:.0f} KiB/s pushed)")
        failed |= live >= 5.0
        if received == 0:
            print("no /live frames arrived")
            failed = True
        for s in socks:
            s.close()
        api.call("POST", f"/jobs/{client['id']}/stop")
        api.call("POST", f"/jobs/{server['id']}/stop")
        for _ in range(300):
            j1 = api.call("GET", f"/jobs/{client['id']}")["job"]
            j2 = api.call("GET", f"/jobs/{server['id']}")["job"]
            if j1["finished_at"] and j2["finished_at"]:
                break
            time.sleep(0.1)
    finally:
        ui.terminate()
        try:
            ui.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ui.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        os.remove(data + ".log")
    print("master overhead: " + ("FAIL" if failed else "ok"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
