"""What the perf/ scripts share: a process's CPU ticks, free ports on 127.0.0.1, and a
tcpdump capture of INVITEs (and of other UDP or TCP traffic) with readers for its pcap
file."""

import re
import select
import signal
import socket
import struct
import subprocess
import time


def cpu_ticks(pid):
    """utime + stime of process `pid` in clock ticks (os.sysconf("SC_CLK_TCK") a second);
    None once the process has gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return None


class Ports:
    """Ports free for both UDP and TCP on 127.0.0.1, counted up from `start` by `step`
    (2 leaves each port's neighbour to the tool: SIPp's -mp uses +2). Each script starts
    its own range, so scripts run side by side do not hand out the same port."""

    def __init__(self, start, step=1):
        self.last, self.step = start, step

    def next(self):
        while True:
            self.last += self.step
            if all(_bindable(kind, self.last) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
                return self.last


def _bindable(kind, port):
    try:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


# INVITE requests: the first four bytes of a UDP payload that are "INVI", as a BPF test.
INVITE_FILTER = "udp[8:4] = 0x494e5649"


class Capture:
    """tcpdump on `iface` of the UDP datagrams `bpf` selects (their first `snaplen` bytes), into
    the pcap file `path`, each written as it comes (--immediate-mode: without it, packets
    still in the kernel's ring when tcpdump is stopped are lost). start() returns once
    tcpdump says it listens; stop() ends it and returns how many packets the kernel
    dropped (a capture that lost packets cannot date the first or last one). `wrap`: a
    command prefix for tcpdump (e.g. taskset and chrt: tcpdump, woken by the first packet
    of a burst, would otherwise preempt the sender mid-burst on its core)."""

    def __init__(self, path, bpf, iface="lo", snaplen=96, wrap=()):
        self.path, self.bpf, self.iface, self.snaplen, self.proc = path, bpf, iface, snaplen, None
        self.wrap = list(wrap)

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            [*self.wrap, "tcpdump", "-i", self.iface, "-n", "-s", str(self.snaplen), "-B", "65536", "--immediate-mode", "-U", "-w", self.path,
             self.bpf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        said = b""
        end = time.monotonic() + timeout
        while b"listening on" not in said:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"tcpdump did not start: {said.decode(errors='replace').strip()}")
            if select.select([self.proc.stderr], [], [], left)[0]:
                chunk = self.proc.stderr.read1(4096)
                if not chunk:
                    continue
                said += chunk
        return self

    def stop(self):
        if self.proc is None:
            return 0
        # SIGTERM, not SIGINT: a script started in the background inherits SIGINT ignored.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.proc = None
        m = re.search(rb"(\d+) packets dropped by kernel", err or b"")
        return int(m.group(1)) if m else 0


def udp_packets(path):
    """The IPv4 UDP datagrams of a pcap file as (capture time in s, source address, source
    port, destination port, the payload's captured bytes), in file order. Link types: Ethernet (Linux
    lo), Linux cooked (SLL, SLL2) and raw IP; microsecond and nanosecond pcaps."""
    return [(ts, src, sport, dport, payload)
            for ts, proto, src, sport, dport, _, payload in ip_packets(path) if proto == 17]


def tcp_segments(path):
    """The IPv4 TCP segments of a pcap file as (capture time in s, source port, destination
    port, TCP flags, the payload's captured bytes), in file order (as `udp_packets`)."""
    return [(ts, sport, dport, flags, payload)
            for ts, proto, _, sport, dport, flags, payload in ip_packets(path) if proto == 6]


def ip_packets(path):
    """The IPv4 UDP datagrams and TCP segments of a pcap file as (capture time in s, IP
    protocol (17 or 6), source address, source port, destination port, TCP flags (0 for
    UDP), the payload's captured bytes), in file order."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
              b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise ValueError(f"{path}: not a pcap file")
    frac = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    link = struct.unpack(endian + "I", data[20:24])[0]
    skip = {1: 14, 113: 16, 276: 20, 101: 0, 12: 0}.get(link)
    if skip is None:
        raise ValueError(f"{path}: link type {link} not read")
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, sub, incl, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ip = pkt[skip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] not in (6, 17):
            continue
        ihl = (ip[0] & 0x0F) * 4
        l4 = ip[ihl:]
        src = ".".join(str(b) for b in ip[12:16])
        if ip[9] == 17:
            if len(l4) < 8:
                continue
            sport, dport = struct.unpack(">HH", l4[:4])
            out.append((sec + sub * frac, 17, src, sport, dport, 0, bytes(l4[8:])))
        else:
            if len(l4) < 20 or len(l4) < (l4[12] >> 4) * 4:
                continue
            sport, dport = struct.unpack(">HH", l4[:4])
            out.append((sec + sub * frac, 6, src, sport, dport, l4[13], bytes(l4[(l4[12] >> 4) * 4:])))
    return out
