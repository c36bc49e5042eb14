"""What the perf/ scripts share: a process's CPU ticks and free ports on 127.0.0.1."""

import socket


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
