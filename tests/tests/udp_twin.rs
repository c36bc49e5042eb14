//! The connected twin (engine/runtime/src/shard/udp.rs): a UDP shard that talks to one
//! peer opens a second socket on its own address, `connect`ed to that peer, so the kernel
//! skips a route lookup per datagram. What must hold for a user: the port is the same, the
//! peer's datagrams and everyone else's are all handled, and a peer that is not there yet
//! (ICMP errors on a connected socket) costs no call. Checked against SIPp both ways, with
//! the sockets read from the kernel's table (/proc/net/udp).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};

const CALLS: u64 = 20;

/// The IPv4 UDP sockets process `pid` holds on local port `port`: each one's remote
/// address (`None` when it is not connected).
fn udp_sockets(pid: u32, port: u16) -> Vec<Option<SocketAddr>> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|fd| {
                    let link = std::fs::read_link(fd.path()).ok()?;
                    let l = link.to_str()?;
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let parse = |hex: &str| -> Option<SocketAddr> {
        let (ip, p) = hex.split_once(':')?;
        // /proc/net/udp prints the address in host byte order (little-endian here).
        let ip = u32::from_str_radix(ip, 16).ok()?.swap_bytes();
        Some(SocketAddr::from((
            Ipv4Addr::from(ip),
            u16::from_str_radix(p, 16).ok()?,
        )))
    };
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            let (local, remote, inode) = (parse(f.get(1)?)?, parse(f.get(2)?)?, f.get(9)?);
            (local.port() == port && inodes.iter().any(|i| i == inode))
                .then_some((remote.port() != 0).then_some(remote))
        })
        .collect()
}

/// Waits (at most 10 s) until `pid` holds two sockets on `port`, one of them connected to
/// `peer`; returns what the table showed last.
fn wait_for_twin(pid: u32, port: u16, peer: SocketAddr) -> Vec<Option<SocketAddr>> {
    let start = Instant::now();
    loop {
        let socks = udp_sockets(pid, port);
        if socks.len() == 2 && socks.contains(&None) && socks.contains(&Some(peer)) {
            return socks;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return socks;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ours(dir: &std::path::Path, csv: &std::path::Path, args: &[String]) -> Command {
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(dir).args(args);
    peer_args(&mut cmd, csv);
    cmd
}

fn sipp(dir: &std::path::Path, csv: &std::path::Path, args: &[String]) -> Command {
    let mut cmd = Command::new(sipp_bin());
    cmd.current_dir(dir).args(args);
    peer_args(&mut cmd, csv);
    cmd
}

/// `-sn uas` on 127.0.0.1:`port` for `calls` calls, then `extra`.
fn uas(port: u16, calls: u32, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["-sn", "uas", "-i", "127.0.0.1", "-p"]
        .map(String::from)
        .into();
    v.extend([port.to_string(), "-m".into(), calls.to_string()]);
    v.extend(extra.iter().map(|a| a.to_string()));
    v
}

/// `-sn uac` from 127.0.0.1:`port` to 127.0.0.1:`remote`, `calls` calls at `rate` a
/// second, then `extra`.
fn uac(remote: u16, port: u16, calls: u32, rate: u32, extra: &[&str]) -> Vec<String> {
    let mut v = vec![format!("127.0.0.1:{remote}")];
    v.extend(["-sn", "uac", "-i", "127.0.0.1", "-p"].map(String::from));
    v.extend([port.to_string(), "-m".into(), calls.to_string()]);
    v.extend(["-r".into(), rate.to_string()]);
    v.extend(extra.iter().map(|a| a.to_string()));
    v
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn our_client_talks_to_sipp_from_a_twin_connected_to_it_on_the_same_port() {
    let dir = scratch_dir("udp-twin-uac");
    let (sport, cport) = (free_port(), free_port());
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    let mut server = Proc::spawn("sipp uas", &mut sipp(&dir, &s_csv, &uas(sport, 20, &[])));
    server.wait_bound(Sock::Udp, sport);
    let args = uac(sport, cport, 20, 10, &["-d", "1500"]);
    let client = Proc::spawn("gossipper uac", &mut ours(&dir, &c_csv, &args));
    let socks = wait_for_twin(client.child.id(), cport, local(sport));
    assert_eq!(
        socks.len(),
        2,
        "our client's sockets on port {cport}: {socks:?}"
    );
    assert!(
        socks.contains(&Some(local(sport))) && socks.contains(&None),
        "one socket connected to SIPp, one open to anyone: {socks:?}"
    );
    finish_pair(
        "twin uac",
        client,
        server,
        &c_csv,
        &s_csv,
        CALLS,
        Duration::from_secs(40),
    );
}

#[test]
fn our_server_connects_its_twin_to_its_first_caller_and_serves_everyone() {
    let dir = scratch_dir("udp-twin-uas");
    let sport = free_port();
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    let mut server = Proc::spawn(
        "gossipper uas",
        &mut ours(&dir, &s_csv, &uas(sport, 40, &["-shards", "1"])),
    );
    server.wait_bound(Sock::Udp, sport);
    let pid = server.child.id();
    // The first caller: SIPp, 20 calls.
    let cport = free_port();
    let first = Proc::spawn(
        "sipp uac (first caller)",
        &mut sipp(&dir, &c_csv, &uac(sport, cport, 20, 10, &["-d", "1500"])),
    );
    let socks = wait_for_twin(pid, sport, local(cport));
    assert!(
        socks.len() == 2 && socks.contains(&Some(local(cport))) && socks.contains(&None),
        "our server's sockets on port {sport} once SIPp (port {cport}) called: {socks:?}"
    );
    let (st, out, err) = first.wait(Duration::from_secs(40));
    assert_eq!(st.code(), Some(0), "first caller\n{out}\n{err}");
    let c1 = gossipper_e2e::StatCsv::read(&c_csv);
    assert_eq!(
        c1.last("SuccessfulCall(C)"),
        CALLS,
        "first caller's successes"
    );
    assert_eq!(c1.last("FailedCall(C)"), 0, "first caller's failures");
    // A second caller from another port: its datagrams reach the socket open to anyone.
    let c2_csv = dir.join("client2.csv");
    let second = Proc::spawn(
        "sipp uac (second caller)",
        &mut sipp(&dir, &c2_csv, &uac(sport, free_port(), 20, 20, &[])),
    );
    let (st, out, err) = second.wait(Duration::from_secs(40));
    assert_eq!(st.code(), Some(0), "second caller\n{out}\n{err}");
    let c2 = gossipper_e2e::StatCsv::read(&c2_csv);
    assert_eq!(
        c2.last("SuccessfulCall(C)"),
        CALLS,
        "second caller's successes"
    );
    assert_eq!(c2.last("FailedCall(C)"), 0, "second caller's failures");
    let (st, out, err) = server.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "our server\n{out}\n{err}");
    let sv = gossipper_e2e::StatCsv::read(&s_csv);
    assert_eq!(
        sv.last("SuccessfulCall(C)"),
        2 * CALLS,
        "our server's successes"
    );
    assert_eq!(sv.last("FailedCall(C)"), 0, "our server's failures");
}

#[test]
fn a_stray_first_datagram_takes_the_twin_and_the_real_caller_is_still_served() {
    let dir = scratch_dir("udp-twin-stray");
    let sport = free_port();
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    let mut server = Proc::spawn(
        "gossipper uas",
        &mut ours(&dir, &s_csv, &uas(sport, 20, &["-shards", "1"])),
    );
    server.wait_bound(Sock::Udp, sport);
    let stray = UdpSocket::bind("127.0.0.1:0").unwrap();
    stray
        .send_to(b"not SIP at all\r\n\r\n", local(sport))
        .unwrap();
    let socks = wait_for_twin(server.child.id(), sport, stray.local_addr().unwrap());
    assert!(
        socks.contains(&Some(stray.local_addr().unwrap())),
        "the twin follows the first sender: {socks:?}"
    );
    let client = Proc::spawn(
        "sipp uac",
        &mut sipp(&dir, &c_csv, &uac(sport, free_port(), 20, 20, &[])),
    );
    finish_pair(
        "twin after a stray",
        client,
        server,
        &c_csv,
        &s_csv,
        CALLS,
        Duration::from_secs(40),
    );
}

#[test]
fn a_server_that_starts_late_costs_no_call_despite_the_icmp_errors() {
    let dir = scratch_dir("udp-twin-late");
    let (sport, cport) = (free_port(), free_port());
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    // Nothing listens yet: the first INVITEs bring ICMP port-unreachable back, which a
    // connected socket reports on its next send and receive.
    let args = uac(sport, cport, 10, 10, &[]);
    let client = Proc::spawn("gossipper uac", &mut ours(&dir, &c_csv, &args));
    std::thread::sleep(Duration::from_millis(1200));
    let mut server = Proc::spawn(
        "sipp uas (late)",
        &mut sipp(&dir, &s_csv, &uas(sport, 10, &[])),
    );
    server.wait_bound(Sock::Udp, sport);
    finish_pair(
        "late server",
        client,
        server,
        &c_csv,
        &s_csv,
        10,
        Duration::from_secs(60),
    );
}
