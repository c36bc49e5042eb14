#!/usr/bin/env python3
"""RTP send benchmark: N concurrent G.711 20 ms streams from one gossipper, next to SIPp.

Each tool runs a client scenario that answers nothing but streams: INVITE with SDP, 200,
ACK, then `<exec rtp_stream=…>` looping G.711 (20 ms, PT 0) for --hold seconds, then BYE.
The peer is our built-in uas started with `-mp SINK`, so every answer's SDP points at
a sink port. The sink is a UDP socket this script binds and never reads: the kernel
queues a little and drops the rest, and /proc/net/udp's per-socket `drops` counts every
packet that reached the port. So both tools are measured the same way, from outside:

  delivered pps = growth of (drops) over the steady window, when all N streams run;
  CPU           = the client process's utime + stime over the same window.

gossipper also reports how late each packet left against its schedule (summary.json
`media.scheduled_within_1ms / scheduled_packets`, the ≥ 99 % within 1 ms goal).
SIPp 3.6.1 has no such counter; its figure is the delivered rate alone.

SIPp's rtp_stream needs a raw codec file: one second of µ-law silence is written to the
scratch directory. Every process is bounded in time; traffic stays on 127.0.0.1.

Measured on the shared 2-core development VM (2026-11-26, release build, --rt 10, other
engineers' builds and tests running, load average 8-38 during the run):

  tool       delivered pps  of expected  within 1 ms  max late  skipped  CPU (cores)  CPU µs/pkt
  gossipper         500014       100.0%      99.29 %   15.1 ms        0         1.05        2.09
  sipp              499991       100.0%          n/a       n/a      n/a         1.37        2.74

Without --rt (nice -10) the same machine gave 97-99 % within 1 ms depending on the other
load; the ramp (1,000 new calls/s, SIP and media together) holds most of the late packets.

2026-11-26 again (--no-sipp --hold 30, nice -10, load average 1.4-4.7 from other
engineers' builds and benchmarks): 89.8, 97.4, 97.8, 95.8, 94.9, 91.9, 86.4, 98.0 %
within 1 ms; --rt 10 under the same load: 99.71 %. --slice-us 100 (an EEVDF custom slice,
kernel 6.18, so a waking shard preempts nice-0 work sooner) gave 99.0, 97.3, 98.0, 85.6,
97.3 %: no difference that stands out of the run-to-run spread, which is set by whatever
else the shared machine runs (max lateness 10-200 ms, i.e. whole scheduler slices, not
timer slack or wake-up jitter).

2026-11-26, quiet machine (nothing else running, load average < 1), default settings
(nice -10): 98.88 % within 1 ms with SIPp's run in the same invocation (gossipper 1.87 CPU-µs
per packet, SIPp 2.37), then --no-sipp 99.49, 99.50, 99.36 % (1.59-1.68 µs/pkt); --rt 10:
99.43 % (1.80 µs/pkt; SIPp 2.70).

Usage: perf/rtp_bench.py [--streams 10000] [--rate 1000] [--hold 60] [--nice -10 | --rt 10]
                         [--slice-us 100] [--gossipper target/release/gossipper] [--no-sipp]
"""

import argparse
import ctypes
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

from perfutil import Ports

free_port = Ports(34000).next

SCENARIO = """<?xml version="1.0" encoding="UTF-8"?>
<scenario name="rtp bench">
  <send retrans="500"><![CDATA[
    INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
    Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
    From: bench <sip:bench@[local_ip]:[local_port]>;tag=[call_number]
    To: [service] <sip:[service]@[remote_ip]:[remote_port]>
    Call-ID: [call_id]
    CSeq: 1 INVITE
    Contact: sip:bench@[local_ip]:[local_port]
    Max-Forwards: 70
    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
    m=audio [media_port] RTP/AVP 0
    a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
    ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
    Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
    From: bench <sip:bench@[local_ip]:[local_port]>;tag=[call_number]
    To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
    Call-ID: [call_id]
    CSeq: 1 ACK
    Contact: sip:bench@[local_ip]:[local_port]
    Max-Forwards: 70
    Content-Length: 0
  ]]></send>
  <nop><action><exec rtp_stream="STREAM"/></action></nop>
  <pause milliseconds="HOLD_MS"/>
  <send retrans="500"><![CDATA[
    BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
    Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
    From: bench <sip:bench@[local_ip]:[local_port]>;tag=[call_number]
    To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
    Call-ID: [call_id]
    CSeq: 2 BYE
    Contact: sip:bench@[local_ip]:[local_port]
    Max-Forwards: 70
    Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>
"""


def free_pair(base=[38000]):
    """A port whose +2 is free too (SIPp binds -mp and -mp + 2)."""
    while True:
        base[0] += 4
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", base[0]))
                b.bind(("127.0.0.1", base[0] + 2))
            return base[0]
        except OSError:
            continue


def sink_drops(port):
    """Packets dropped by the sink socket bound to 127.0.0.1:port (/proc/net/udp)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want:
                return int(parts[-1])
    return 0


def cpu_seconds(pid):
    """utime + stime of a process and its threads, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


SYS_SCHED_SETATTR = 314  # x86_64


def eevdf_slice(slice_us, nice):
    """A preexec_fn giving the process (and the threads it starts) SCHED_OTHER at `nice`
    with a custom EEVDF slice (sched_attr.sched_runtime, Linux >= 6.12): a shorter slice
    lets a waking thread preempt others sooner, without real-time priority."""
    def apply():
        # struct sched_attr: size, policy, flags, nice, priority, runtime, deadline, period
        attr = struct.pack("IIQiIQQQ", 48, 0, 0, nice, 0, slice_us * 1000, 0, 0)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(SYS_SCHED_SETATTR, 0, ctypes.create_string_buffer(attr, 48), 0) != 0:
            os.write(2, b"sched_setattr failed\n")
            os._exit(1)
    return apply


def run_tool(name, client_cmd, server_bin, args, workdir):
    sink_port = free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sink.bind(("127.0.0.1", sink_port))
    sport = free_port()
    nice = ["nice", "-n", str(args.nice)]
    pre = None
    if args.rt:
        nice = ["chrt", "-r", str(args.rt)]
    elif args.slice_us:
        nice, pre = [], eevdf_slice(args.slice_us, args.nice)
    server = subprocess.Popen(
        nice + [server_bin, "-sn", "uas", "-i", "127.0.0.1", "-p", str(sport), "-mp", str(sink_port),
         "-nostdin", "-timeout", f"{args.hold + args.streams // args.rate + 60}s", "-l", str(args.streams * 2)],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pre)
    time.sleep(0.5)
    # No -p: a gossipper client given -p keeps to one shard (every message from that
    # port); without it each CPU gets a shard. SIPp then picks a free port itself.
    cmd = client_cmd + [f"127.0.0.1:{sport}", "-i", "127.0.0.1", "-r", str(args.rate),
                        "-m", str(args.streams), "-l", str(args.streams), "-nostdin",
                        "-timeout", f"{args.hold + args.streams // args.rate + 60}s"]
    client = subprocess.Popen(nice + cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=pre)
    ramp = args.streams / args.rate
    # Steady window: after the ramp (plus 2 s), for half the hold time.
    t_start = time.time() + ramp + 2.0
    window = max(2.0, args.hold / 2 - 2.0)
    while time.time() < t_start:
        time.sleep(0.05)
    d0, t0, c0 = sink_drops(sink_port), time.time(), cpu_seconds(client.pid)
    time.sleep(window)
    d1, t1, c1 = sink_drops(sink_port), time.time(), cpu_seconds(client.pid)
    try:
        _, err = client.communicate(timeout=args.hold + ramp + 90)
    except subprocess.TimeoutExpired:
        client.kill()
        _, err = client.communicate()
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    sink.close()
    pps = (d1 - d0) / (t1 - t0)
    cpu = (c1 - c0) / (t1 - t0)
    return {"name": name, "pps": pps, "cpu": cpu, "us_per_pkt": cpu * 1e6 / max(pps, 1),
            "exit": client.returncode, "stderr": err.decode(errors="replace")[-400:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--rate", type=int, default=1000, help="new calls per second while ramping up")
    ap.add_argument("--hold", type=int, default=60, help="seconds each call streams")
    ap.add_argument("--gossipper", default="target/release/gossipper")
    ap.add_argument("--no-sipp", action="store_true")
    ap.add_argument("--nice", type=int, default=-10,
                    help="nice level of every process under test (the same for both tools), so "
                         "other work on a shared machine does not decide the result")
    ap.add_argument("--rt", type=int, default=0,
                    help="run every process under test with SCHED_RR at this priority instead "
                         "(the same for both tools; the kernel's RT throttling still applies)")
    ap.add_argument("--slice-us", type=int, default=0,
                    help="keep SCHED_OTHER at --nice but give every process under test this "
                         "EEVDF custom slice in µs (Linux >= 6.12; 100 is the shortest)")
    args = ap.parse_args()
    gossipper = os.path.abspath(args.gossipper)
    if not os.path.exists(gossipper):
        sys.exit(f"{gossipper} is missing: cargo build --release -p gossipper")
    work = tempfile.mkdtemp(prefix="gossipper-rtp-bench-")
    expected = args.streams * 50
    results = []

    ours = os.path.join(work, "ours.xml")
    with open(ours, "w") as f:
        f.write(SCENARIO.replace("STREAM", "synthetic,-1,0").replace("HOLD_MS", str(args.hold * 1000)))
    summary = os.path.join(work, "summary.json")
    r = run_tool("gossipper", [gossipper, "-sf", ours, "-summary_json", summary], gossipper, args, work)
    with open(summary) as f:
        media = json.load(f)["media"]
    r["on_time"] = media["scheduled_within_1ms"] / max(1, media["scheduled_packets"])
    r["max_late_ms"] = media["scheduled_max_late_us"] / 1000
    r["late_skipped"] = media["rtp_late_skipped"]
    r["send_errors"] = media["rtp_send_errors"]
    results.append(r)

    if not args.no_sipp and shutil.which("sipp"):
        raw = os.path.join(work, "silence.ulaw")
        with open(raw, "wb") as f:
            f.write(b"\xff" * 8000)
        theirs = os.path.join(work, "sipp.xml")
        with open(theirs, "w") as f:
            f.write(SCENARIO.replace("STREAM", f"{raw},-1,0").replace("HOLD_MS", str(args.hold * 1000)))
        results.append(run_tool("sipp", ["sipp", "-sf", theirs, "-mp", str(free_pair())], gossipper, args, work))

    print(f"\n{args.streams} G.711 20 ms streams, expected {expected} packets/s at the sink\n")
    print(f"{'tool':<10} {'delivered pps':>14} {'of expected':>12} {'within 1 ms':>12} {'max late':>10} "
          f"{'skipped':>8} {'CPU (cores)':>12} {'CPU µs/pkt':>11}")
    for r in results:
        on_time = f"{r['on_time'] * 100:.2f} %" if "on_time" in r else "n/a"
        late = f"{r['max_late_ms']:.1f} ms" if "max_late_ms" in r else "n/a"
        skipped = str(r.get("late_skipped", "n/a"))
        print(f"{r['name']:<10} {r['pps']:>14.0f} {r['pps'] / expected * 100:>11.1f}% {on_time:>12} {late:>10} "
              f"{skipped:>8} {r['cpu']:>12.2f} {r['us_per_pkt']:>11.2f}")
        if r["exit"] not in (0, None):
            print(f"  {r['name']} exited {r['exit']}: {r['stderr'].strip()[-200:]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
