//! The machine's floor for one call's work (issue #21 item 4): what a uac → uas call pair
//! costs with an empty userland. The client wakes every 1 ms, as a pacer does, sends its
//! frame's requests and drains the answers; the server blocks until a datagram comes,
//! drains and answers at once. Both move the datagrams with the engine's own
//! recvmmsg/sendmmsg batches (`shard::mmsg`), and the datagrams are those of one real call
//! of the built-in uac and uas (logged on the simulated network): INVITE, ACK and BYE one
//! way, 100, 180, 200 and 200 the other, on sockets connected to each other (the cheapest
//! way the kernel moves them; `FLOOR_CONNECT=0` for unconnected ones). What is left is the
//! kernel's work and the wake-ups, i.e. what no event loop on this machine can go below.
//!
//!   cargo run --release -p gossipper-perf --bin call_floor [RATE]   (default 10000)
//!
//! Prints `floor uac=X uas=Y` in CPU-µs per call: the client pinned to CPU 0 and the
//! server to CPU 1 (as perf/compare.py pins the tools), measured over 4 s after 2 s of an
//! 8 s run. perf/compare.py runs it and states both tools' CPU per call as multiples of it.
//! Loopback only; bounded in time (8 s of sending, the server ends 3 s after the last
//! datagram).

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gossipper_engine::shard::mmsg::{BATCH, RecvBatch, send_all_via};
use gossipper_perf::call_pair;

const RUN_MS: u64 = 8000;
const WINDOW_MS: (u64, u64) = (2000, 6000);

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One real call's datagrams: (the uac's requests, the uas's answer to an INVITE, its
/// answer to a BYE).
struct CallBytes {
    requests: Vec<Vec<u8>>,
    invite_answers: Vec<Vec<u8>>,
    bye_answer: Vec<u8>,
}

fn call_bytes() -> io::Result<CallBytes> {
    let (net, ok) = call_pair(1, 10.0, true);
    let missing = |what: &str| io::Error::other(format!("the logged call has no {what}"));
    if ok != 1 {
        return Err(missing("successful call"));
    }
    let log = &net.log;
    let by = |start: &'static str| log.iter().filter(move |s| s.first_line.starts_with(start));
    let requests = ["INVITE ", "ACK ", "BYE "]
        .into_iter()
        .map(|m| {
            by(m)
                .next()
                .map(|s| s.bytes.clone())
                .ok_or_else(|| missing(m))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut oks = by("SIP/2.0 200");
    let invite_ok = oks.next().ok_or_else(|| missing("200 to the INVITE"))?;
    let bye_ok = oks.next().ok_or_else(|| missing("200 to the BYE"))?;
    let mut invite_answers = Vec::new();
    for start in ["SIP/2.0 100", "SIP/2.0 180"] {
        // The built-in uas sends 100 and 180; a scenario without them just skips them.
        if let Some(s) = by(start).next() {
            invite_answers.push(s.bytes.clone());
        }
    }
    invite_answers.push(invite_ok.bytes.clone());
    Ok(CallBytes {
        requests,
        invite_answers,
        bye_answer: bye_ok.bytes.clone(),
    })
}

/// The client: every 1 ms, the frame's calls' requests in sendmmsg batches, then the
/// answers drained. Returns CPU-µs per call over the window.
fn uac(port: u16, rate: u64) -> io::Result<f64> {
    let call = call_bytes()?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_nonblocking(true)?;
    let fd = sock.as_raw_fd();
    let dest = SocketAddr::from(([127, 0, 0, 1], port));
    let peer = connected().then_some(dest);
    if peer.is_some() {
        sock.connect(dest)?;
    }
    let per_ms = rate as f64 / 1000.0;
    let mut owed = 0.0;
    let mut batch = RecvBatch::default();
    let mut out: Vec<&[u8]> = Vec::new();
    let (mut cpu0, mut cpu1) = (0, 0);
    let start = Instant::now();
    for ms in 0..RUN_MS {
        if ms == WINDOW_MS.0 {
            cpu0 = thread_cpu_ns();
        }
        if ms == WINDOW_MS.1 {
            cpu1 = thread_cpu_ns();
        }
        owed += per_ms;
        let calls = owed as usize;
        owed -= calls as f64;
        out.clear();
        for _ in 0..calls {
            out.extend(call.requests.iter().map(Vec::as_slice));
        }
        send_all_via(fd, peer, out.len(), &|i| (out[i], dest));
        while recv(&mut batch, fd)? == BATCH {}
        let next = start + Duration::from_millis(ms + 1);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let window_calls = rate as f64 * (WINDOW_MS.1 - WINDOW_MS.0) as f64 / 1000.0;
    Ok((cpu1 - cpu0) as f64 / 1e3 / window_calls)
}

/// The server: blocks until a datagram arrives, drains, answers each INVITE with 100, 180
/// and 200 and each BYE with 200 in sendmmsg batches. Prints its port first; returns
/// CPU-µs per call over the calls of the client's window (counted by INVITEs).
fn uas(rate: u64) -> io::Result<f64> {
    let call = call_bytes()?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
    println!("{}", sock.local_addr()?.port());
    let fd = sock.as_raw_fd();
    let marks = (rate * WINDOW_MS.0 / 1000, rate * WINDOW_MS.1 / 1000);
    let (mut cpu0, mut cpu1) = (None, None);
    let mut invites = 0u64;
    let mut batch = RecvBatch::default();
    let mut out: Vec<(&[u8], SocketAddr)> = Vec::new();
    let mut probe = [0u8; 1];
    let mut peer = None;
    loop {
        // A blocking peek is the wait (one system call per wake, as the engine's epoll).
        match sock.peek(&mut probe) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            // The client ended first: its port answers our last datagrams with ICMP
            // errors, which the connected socket reports once each.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        }
        loop {
            let n = recv(&mut batch, fd)?;
            out.clear();
            for i in 0..n {
                let Some((bytes, from)) = batch.get(i) else {
                    continue;
                };
                match bytes.first() {
                    Some(b'I') => {
                        invites += 1;
                        out.extend(call.invite_answers.iter().map(|a| (a.as_slice(), from)));
                    }
                    Some(b'B') => out.push((call.bye_answer.as_slice(), from)),
                    _ => {}
                }
            }
            if peer.is_none()
                && connected()
                && let Some(&(_, from)) = out.first()
            {
                sock.connect(from)?;
                peer = Some(from);
            }
            send_all_via(fd, peer, out.len(), &|i| out[i]);
            if cpu0.is_none() && invites >= marks.0 {
                cpu0 = Some(thread_cpu_ns());
            }
            if cpu1.is_none() && invites >= marks.1 {
                cpu1 = Some(thread_cpu_ns());
            }
            if n < BATCH {
                break;
            }
        }
    }
    match (cpu0, cpu1) {
        (Some(a), Some(b)) => Ok((b - a) as f64 / 1e3 / (marks.1 - marks.0) as f64),
        _ => Err(io::Error::other(format!(
            "the server saw {invites} INVITEs, fewer than the window's {}",
            marks.1
        ))),
    }
}

/// One recvmmsg batch; a connected socket's report of an ICMP error (the peer's port
/// closed for a moment, or for good at the end of the run) is consumed as an empty batch,
/// as the engine's drain does, instead of ending the measurement.
fn recv(batch: &mut RecvBatch, fd: std::os::fd::RawFd) -> io::Result<usize> {
    match batch.recv(fd) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(0),
        r => r,
    }
}

/// Each side `connect`s its socket to the other, as the engine's connected twin does
/// (engine/runtime/src/shard/udp.rs), so its datagrams skip the kernel's per-datagram
/// route lookup: the lowest the machine allows. `FLOOR_CONNECT=0` measures unconnected
/// sockets (what SIPp uses, and the engine before the twin).
fn connected() -> bool {
    std::env::var_os("FLOOR_CONNECT").is_none_or(|v| v != "0")
}

fn pinned(cpu: &str, args: &[String]) -> io::Result<std::process::Child> {
    Command::new("taskset")
        .args(["-c", cpu])
        .arg(std::env::current_exe()?)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
}

fn first_line(child: &mut std::process::Child) -> io::Result<BufReader<std::process::ChildStdout>> {
    let out = child.stdout.take().ok_or(io::ErrorKind::BrokenPipe)?;
    Ok(BufReader::new(out))
}

fn read_line(r: &mut impl BufRead, who: &str) -> io::Result<String> {
    let mut s = String::new();
    r.read_line(&mut s)?;
    if s.trim().is_empty() {
        return Err(io::Error::other(format!("the {who} printed nothing")));
    }
    Ok(s.trim().to_string())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: u64| {
        args.get(i)
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(default)
    };
    match args.get(1).map(String::as_str) {
        Some("--uas") => {
            let us = uas(number(2, 10_000))?;
            println!("{us:.2}");
            return Ok(());
        }
        Some("--uac") => {
            let port = u16::try_from(number(2, 0)).map_err(io::Error::other)?;
            let us = uac(port, number(3, 10_000))?;
            println!("{us:.2}");
            return Ok(());
        }
        _ => {}
    }
    let rate = number(1, 10_000).clamp(1000, 200_000);
    let mut server = pinned("1", &["--uas".into(), rate.to_string()])?;
    let mut server_out = first_line(&mut server)?;
    let port = read_line(&mut server_out, "server")?;
    let mut client = pinned("0", &["--uac".into(), port, rate.to_string()])?;
    let mut client_out = first_line(&mut client)?;
    let uac_us = read_line(&mut client_out, "client")?;
    let uas_us = read_line(&mut server_out, "server")?;
    client.wait()?;
    server.wait()?;
    println!("floor at {rate} calls/s, CPU-µs per call (empty userland, this machine):");
    println!("floor uac={uac_us} uas={uas_us}");
    Ok(())
}
