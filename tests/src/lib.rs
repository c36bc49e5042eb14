//! Helpers for the end-to-end tests: find the `gossipper` binary and SIPp, pick free
//! loopback ports, run processes with hard time limits, and read SIPp-format CSVs.
//!
//! Every test here uses real processes and real sockets on 127.0.0.1. A test that needs
//! SIPp fails loudly when it is missing (the test entry point installs it).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The `gossipper` binary built by `scripts/test.sh` (or `GOSSIPPER_BIN`).
pub fn gossipper_bin() -> PathBuf {
    if let Ok(p) = std::env::var("GOSSIPPER_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = root.join("target/debug/gossipper");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p gossipper` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The SIPp binary. Panics with a clear message when SIPp is not installed.
pub fn sipp_bin() -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v sipp")
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "sipp is required for this test: install the Debian package sip-tester (scripts/test.sh does)"
    );
    PathBuf::from(path)
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A UDP port on 127.0.0.1 that is free now, from a range picked per test process.
pub fn free_port() -> u16 {
    free_port_block(1)
}

/// The first of `len` consecutive ports on 127.0.0.1 that are all free now (UDP, and TCP
/// for the first), none of which this process hands out again. The block is taken from
/// the counter in one step, so tests running in parallel threads never get ports inside
/// each other's blocks: peers bind neighbours of the port they are given (SIPp's `-mp`:
/// RTCP, video and per-call media ports).
pub fn free_port_block(len: u16) -> u16 {
    if NEXT_PORT.load(Ordering::Relaxed) == 0 {
        let base = 20_000 + (std::process::id() % 2000) as u16 * 16;
        let _ = NEXT_PORT.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed);
    }
    let len = len.max(1);
    loop {
        let taken = NEXT_PORT.fetch_add(len, Ordering::Relaxed);
        // Past 60,000 (or wrapped past u16) start again low; rare: a test process takes
        // a few hundred ports.
        let first = if (20_000..=60_000).contains(&taken) {
            taken
        } else {
            20_000 + taken % 1000
        };
        let last = first + (len - 1);
        if (first..=last).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
            && std::net::TcpListener::bind(("127.0.0.1", first)).is_ok()
        {
            return first;
        }
    }
}

/// The arguments every end-to-end peer gets, gossipper and SIPp alike: no keyboard, a
/// 60 s run timeout, SIPp's statistics CSV at `stat` every second (`-trace_stat -stf
/// -fd 1`, which `StatCsv` and `finish_pair` read), and the UDP control port on a free
/// loopback port (SIPp's default, 8888, would collide between tests run in parallel).
pub fn peer_args<'c>(cmd: &'c mut Command, stat: &Path) -> &'c mut Command {
    cmd.args([
        "-nostdin",
        "-timeout",
        "60s",
        "-trace_stat",
        "-fd",
        "1",
        "-stf",
    ])
    .arg(stat)
    .args(["-cp", &free_port().to_string(), "-ci", "127.0.0.1"])
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gossipper-e2e-{}-{}-{}",
        name,
        std::process::id(),
        NEXT_PORT.load(Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// How long a server may take to bind its port before a test gives up on it.
pub const READY_LIMIT: Duration = Duration::from_secs(20);

/// The kind of socket a readiness wait looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sock {
    /// A bound UDP socket.
    Udp,
    /// A TCP socket in the LISTEN state (TCP, TLS, WebSocket servers).
    TcpListen,
}

impl Sock {
    /// The socket a server of SIPp transport mode `mode` (`u1`, `t1`, `ln`, `ws1`…)
    /// receives on.
    pub fn for_transport(mode: &str) -> Sock {
        if mode.starts_with('u') {
            Sock::Udp
        } else {
            Sock::TcpListen
        }
    }
}

/// Whether process `pid` holds a `sock` socket on local port `port`: a row of
/// /proc/net/{udp,tcp}[6] with that port (and, for TCP, the LISTEN state) whose inode is
/// one of the process's open files. Checking the process's own sockets (not merely the
/// port) means another program on that port is never taken for our server.
pub fn bound_by(pid: u32, sock: Sock, port: u16) -> bool {
    let inodes = socket_inodes(pid);
    if inodes.is_empty() {
        return false;
    }
    let tables: [&str; 2] = match sock {
        Sock::Udp => ["/proc/net/udp", "/proc/net/udp6"],
        Sock::TcpListen => ["/proc/net/tcp", "/proc/net/tcp6"],
    };
    tables.iter().any(|table| {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid
        // timeout inode ...; the address is HEX_IP:HEX_PORT, LISTEN is state 0A.
        text.lines().skip(1).any(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                return false;
            };
            let row_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            row_port == Some(port)
                && (sock == Sock::Udp || *state == "0A")
                && inodes.iter().any(|i| i == inode)
        })
    })
}

/// How many UDP sockets process `pid` holds open: rows of /proc/net/udp[6] whose inode
/// is one of its open files.
pub fn udp_sockets(pid: u32) -> usize {
    let inodes = socket_inodes(pid);
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .map(|table| {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            text.lines()
                .skip(1)
                .filter(|row| {
                    row.split_whitespace()
                        .nth(9)
                        .is_some_and(|inode| inodes.iter().any(|i| i == inode))
                })
                .count()
        })
        .sum()
}

/// The inodes of the sockets process `pid` has open (none if it is gone).
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| {
            let link = std::fs::read_link(fd.path()).ok()?;
            let link = link.to_str()?;
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect()
}

/// SIPp on a free loopback UDP port, run in `dir` for at most `timeout` (a SIPp time such
/// as `60s`), with `extra` naming its scenario (`-sn uas`, `-sf FILE`, …) and any other
/// flags; bound before this returns.
pub fn sipp_server(name: &str, dir: &Path, timeout: &str, extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new(sipp_bin());
    cmd.current_dir(dir)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin"])
        .args(["-timeout", timeout, "-cp", &free_port().to_string()])
        .args(extra);
    let mut p = Proc::spawn(name, &mut cmd);
    p.wait_bound(Sock::Udp, port);
    (p, port)
}

/// A child process killed when dropped, so a failing test never leaves peers behind.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_string(),
        }
    }

    /// Waits at most `limit`; kills the process and panics when it is exceeded.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let out = read_all(self.child.stdout.take());
                let err = read_all(self.child.stderr.take());
                return (status, out, err);
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let out = read_all(self.child.stdout.take());
                let err = read_all(self.child.stderr.take());
                panic!(
                    "{} did not exit within {:?}\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    limit,
                    tail(&out),
                    tail(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until this process has a `sock` socket on `port` (a peer may send to it
    /// now), at most [`READY_LIMIT`]; panics with its output if it exits first or never
    /// binds. Readiness, not a fixed sleep: the port is read from the kernel's socket
    /// tables ([`bound_by`]).
    pub fn wait_bound(&mut self, sock: Sock, port: u16) {
        let start = Instant::now();
        loop {
            if bound_by(self.child.id(), sock, port) {
                return;
            }
            let exited = self.child.try_wait().expect("try_wait");
            if exited.is_some() || start.elapsed() > READY_LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let out = read_all(self.child.stdout.take());
                let err = read_all(self.child.stderr.take());
                panic!(
                    "{} has no {sock:?} socket on port {port} ({})\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    match exited {
                        Some(status) => format!("it exited: {status}"),
                        None => format!("after {READY_LIMIT:?}"),
                    },
                    tail(&out),
                    tail(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGUSR1 (SIPp's and our soft quit) and waits.
    pub fn quit(self, limit: Duration) -> (ExitStatus, String, String) {
        let _ = Command::new("kill")
            .arg("-USR1")
            .arg(self.child.id().to_string())
            .status();
        self.wait(limit)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_all(p: Option<impl std::io::Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = p {
        let _ = r.read_to_string(&mut s);
    }
    s
}

/// The last 40 lines of a text, for failure messages.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs a command to completion with a time limit.
pub fn run(name: &str, cmd: &mut Command, limit: Duration) -> (ExitStatus, String, String) {
    Proc::spawn(name, cmd).wait(limit)
}

/// Output of a quick command (no time limit beyond the command's own).
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("command runs")
}

/// A SIPp-format statistics CSV: header names and rows.
pub struct StatCsv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl StatCsv {
    pub fn read(path: &Path) -> StatCsv {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("{} is empty", path.display()))
            .split(';')
            .map(str::to_string)
            .collect();
        let rows = lines
            .map(|l| l.split(';').map(str::to_string).collect())
            .collect();
        StatCsv { header, rows }
    }

    /// The value of column `name` in the last row, as a number.
    pub fn last(&self, name: &str) -> u64 {
        let i = self
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header));
        let row = self.rows.last().expect("the CSV has data rows");
        row.get(i)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("column {name} is not a number: {row:?}"))
    }
}

/// Where SIPp's corpus lives (only in the shared folder beside the project).
pub fn corpus_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/sipp-scenarios");
    d.is_dir().then_some(d)
}

/// The end of every client/server interop test: waits for the client (up to
/// `client_limit`), then for its server, asserts both exited 0, and that each side's
/// -trace_stat CSV counts `calls` successes and no failure.
pub fn finish_pair(
    name: &str,
    client: Proc,
    server: Proc,
    c_csv: &Path,
    s_csv: &Path,
    calls: u64,
    client_limit: Duration,
) {
    let (cstatus, cout, cerr) = client.wait(client_limit);
    let (sstatus, sout, serr) = server.wait(Duration::from_secs(30));
    assert_eq!(
        cstatus.code(),
        Some(0),
        "{name}: client exit\nstdout:\n{}\nstderr:\n{}",
        tail(&cout),
        tail(&cerr)
    );
    assert_eq!(
        sstatus.code(),
        Some(0),
        "{name}: server exit\nstdout:\n{}\nstderr:\n{}",
        tail(&sout),
        tail(&serr)
    );
    let c = StatCsv::read(c_csv);
    assert_eq!(
        c.last("SuccessfulCall(C)"),
        calls,
        "{name}: client successes"
    );
    assert_eq!(c.last("FailedCall(C)"), 0, "{name}: client failures");
    let s = StatCsv::read(s_csv);
    assert_eq!(
        s.last("SuccessfulCall(C)"),
        calls,
        "{name}: server successes"
    );
    assert_eq!(s.last("FailedCall(C)"), 0, "{name}: server failures");
}

/// A running `tcpdump -i lo -w FILE FILTER` (Debian package tcpdump; needs root or
/// CAP_NET_RAW, as `scripts/test.sh` runs the suite).
pub struct Capture {
    proc: Proc,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on the loopback and returns once it says it is listening.
    pub fn start(dir: &Path, name: &str, filter: &str) -> Capture {
        Capture::start_on("lo", dir, name, filter)
    }

    /// Starts tcpdump on `iface` (`any` records Linux cooked SLL2 frames).
    pub fn start_on(iface: &str, dir: &Path, name: &str, filter: &str) -> Capture {
        let file = dir.join(format!("{name}.pcap"));
        let err = dir.join(format!("{name}.tcpdump.err"));
        let mut cmd = Command::new("tcpdump");
        cmd.args(["-i", iface, "--immediate-mode", "-U", "-w"])
            .arg(&file)
            .args(filter.split_whitespace())
            .stderr(std::fs::File::create(&err).expect("tcpdump stderr file"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("tcpdump runs (Debian package tcpdump; scripts/test.sh installs it)");
        let mut proc = Proc {
            child,
            name: "tcpdump".into(),
        };
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&err).unwrap_or_default();
            if text.contains("listening on") {
                break;
            }
            if let Some(status) = proc.child.try_wait().expect("try_wait") {
                panic!("tcpdump exited ({status}) before listening: {text}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tcpdump not listening after 20 s: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Capture { proc, file }
    }

    /// SIGINT, then waits for tcpdump to flush and exit; returns the capture file.
    pub fn stop(self) -> PathBuf {
        let pid = self.proc.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let (status, _, _) = self.proc.wait(Duration::from_secs(10));
        assert!(status.success(), "tcpdump: {status}");
        let len = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        assert!(len > 24, "{}: nothing captured", self.file.display());
        self.file
    }
}
