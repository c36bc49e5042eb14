//! What sleeping and waking cost on this machine: the floor under any event loop's CPU
//! per call (perf/README.md, "Where the CPU goes").
//!
//!   cargo run --release -p gossipper-perf --bin wake_cost
//!
//! Measured in one run, each figure the CPU time of the thread concerned (from
//! /proc/thread-self/schedstat), over 2,000 rounds 1 ms apart:
//! 1. a thread sleeping 1 ms on a timer and waking up;
//! 2. a process blocked in `recv` on a UDP socket, woken by a datagram from this one,
//!    on another CPU and on the same CPU; and what each send-and-sleep round costs the
//!    sender when it wakes the other CPU.
//!
//! On bare metal a wake-up costs a few µs; on the 2-vCPU VM of reference/sipp.md, tens of
//! µs, which is why the shard loop (engine/runtime/src/shard/wait.rs) wakes as rarely as it can.
//! Needs `taskset` and two CPUs; run it on an otherwise idle machine. Loopback only,
//! bounded in count.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

const ROUNDS: u32 = 2000;
const PERIOD: Duration = Duration::from_millis(1);
const PINNED: &str = "WAKE_COST_PINNED";

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn per_round_us(ns: u64) -> f64 {
    ns as f64 / 1e3 / f64::from(ROUNDS)
}

/// The receiving process: prints its port, receives `ROUNDS` datagrams (each wakes it),
/// prints its CPU-µs per datagram.
fn receive() -> std::io::Result<()> {
    let rx = UdpSocket::bind("127.0.0.1:0")?;
    rx.set_read_timeout(Some(Duration::from_secs(10)))?;
    println!("{}", rx.local_addr()?.port());
    let mut buf = [0u8; 64];
    let t0 = thread_cpu_ns();
    for _ in 0..ROUNDS {
        rx.recv(&mut buf)?;
    }
    println!("{:.1}", per_round_us(thread_cpu_ns() - t0));
    Ok(())
}

/// Starts a receiver pinned to `cpu`, sends it a datagram every 1 ms; returns (the
/// receiver's CPU per wake-up, this thread's CPU per send-and-sleep round).
fn wake_over_udp(cpu: usize) -> std::io::Result<(f64, f64)> {
    let me = std::env::current_exe()?;
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(cpu.to_string())
        .arg(me)
        .arg("--receive")
        .stdout(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let mut lines = BufReader::new(out).lines();
    let mut next_line = || -> std::io::Result<String> {
        lines
            .next()
            .unwrap_or(Err(std::io::ErrorKind::UnexpectedEof.into()))
    };
    let port: u16 = next_line()?
        .trim()
        .parse()
        .map_err(|_| std::io::ErrorKind::InvalidData)?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
    tx.connect(("127.0.0.1", port))?;
    std::thread::sleep(Duration::from_millis(50)); // the receiver is blocked by now
    let t0 = thread_cpu_ns();
    for i in 0..ROUNDS {
        tx.send(&i.to_le_bytes())?;
        std::thread::sleep(PERIOD);
    }
    let sender = per_round_us(thread_cpu_ns() - t0);
    let woken: f64 = next_line()?
        .trim()
        .parse()
        .map_err(|_| std::io::ErrorKind::InvalidData)?;
    child.wait()?;
    Ok((woken, sender))
}

fn main() -> std::io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--receive") {
        return receive();
    }
    if std::env::var_os(PINNED).is_none() {
        // Measure from CPU 0 so "another CPU" and "the same CPU" mean what they say.
        let status = Command::new("taskset")
            .args(["-c", "0"])
            .arg(std::env::current_exe()?)
            .env(PINNED, "1")
            .status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let t0 = thread_cpu_ns();
    for _ in 0..ROUNDS {
        std::thread::sleep(PERIOD);
    }
    let sleep = per_round_us(thread_cpu_ns() - t0);
    let (woken_far, send_far) = wake_over_udp(1)?;
    let (woken_near, _) = wake_over_udp(0)?;
    println!("CPU-µs per event ({ROUNDS} rounds, {PERIOD:?} apart):");
    println!("  a thread sleeping on a timer, waking up             {sleep:6.1}");
    println!("  a process woken by a datagram, on another CPU       {woken_far:6.1}");
    println!("  a process woken by a datagram, on the same CPU      {woken_near:6.1}");
    println!(
        "  the sender's send + sleep waking another CPU        {send_far:6.1}  ({:.1} over the sleep alone)",
        send_far - sleep
    );
    Ok(())
}
