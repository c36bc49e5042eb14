//! `-t un` (UDP, one socket per call) against real SIPp on 127.0.0.1, both directions.
//!
//! A `un` client gives each call its own socket, so the Via port (what `[local_port]`
//! renders) differs per call and stays the same within a call; `-max_socket N` caps the
//! sockets, and calls past it share the open ones. A `un` server answers from its one
//! listening socket, as SIPp does. Ports are read from the SIPp server's -trace_msg file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};

/// Runs `server` (SIPp or ours) and the client to completion, both with `calls` calls;
/// asserts exit 0 and zero failures on both sides. Returns the scratch directory, where
/// the server's -trace_msg file is.
fn run_pair(
    name: &str,
    server_is_sipp: bool,
    calls: u64,
    server_args: &[&str],
    client_args: &[&str],
) -> std::path::PathBuf {
    let dir = scratch_dir(name);
    let sport = free_port();
    let (sbin, cbin) = if server_is_sipp {
        (sipp_bin(), gossipper_bin())
    } else {
        (gossipper_bin(), sipp_bin())
    };
    let m = calls.to_string();
    let s_csv = dir.join("server.csv");
    let c_csv = dir.join("client.csv");
    let mut scmd = Command::new(&sbin);
    scmd.current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sport.to_string()])
        .args(["-m", &m])
        .args(server_args);
    peer_args(&mut scmd, &s_csv);
    let mut server = Proc::spawn(&format!("{name} server ({})", sbin.display()), &mut scmd);
    server.wait_bound(Sock::Udp, sport);
    let mut ccmd = Command::new(&cbin);
    ccmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-m", &m])
        .args(client_args);
    peer_args(&mut ccmd, &c_csv);
    let client = Proc::spawn(&format!("{name} client ({})", cbin.display()), &mut ccmd);
    finish_pair(
        name,
        client,
        server,
        &c_csv,
        &s_csv,
        calls,
        Duration::from_secs(60),
    );
    dir
}

/// Call-ID → the set of Via ports of the requests received, from a SIPp -trace_msg file
/// in `dir` (`<scenario>_<pid>_messages.log`).
fn request_via_ports(dir: &Path) -> BTreeMap<String, BTreeSet<u16>> {
    let log = std::fs::read_dir(dir)
        .expect("read scratch dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_messages.log"))
        .unwrap_or_else(|| panic!("no -trace_msg file in {}", dir.display()));
    let text = std::fs::read_to_string(&log).expect("read -trace_msg file");
    let mut ports: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for block in text.split("message received").skip(1) {
        let lines: Vec<&str> = block.lines().map(str::trim_end).collect();
        let Some(start) = lines.iter().position(|l| l.contains(" SIP/2.0")) else {
            continue;
        };
        if lines[start].starts_with("SIP/2.0") {
            continue; // a response
        }
        let header = |name: &str| {
            lines[start..]
                .iter()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let (Some(call_id), Some(via)) = (header("Call-ID:"), header("Via:")) else {
            continue;
        };
        // "SIP/2.0/UDP 127.0.0.1:40123;branch=..."
        let hostport = via.split_whitespace().nth(1).unwrap_or("");
        let hostport = hostport.split(';').next().unwrap_or("");
        let port: u16 = hostport
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in Via: {via}"));
        ports.entry(call_id.to_string()).or_default().insert(port);
    }
    ports
}

#[test]
fn our_uac_un_against_sipp_uas() {
    let cport = free_port();
    let dir = run_pair(
        "un-uac-vs-sipp",
        true,
        30,
        &["-trace_msg"],
        &["-t", "un", "-p", &cport.to_string(), "-r", "25"],
    );
    let ports = request_via_ports(&dir);
    assert_eq!(ports.len(), 30, "calls seen by the server: {ports:?}");
    let mut all = BTreeSet::new();
    for (call, p) in &ports {
        assert_eq!(
            p.len(),
            1,
            "call {call} used one port for all its requests: {p:?}"
        );
        all.extend(p.iter().copied());
    }
    // Each call gets a fresh socket; the kernel picks its port at random, so a port of a
    // closed socket may rarely come back: allow a few repeats (u1 would show one port).
    assert!(all.len() >= 25, "each call has its own port: {all:?}");
    assert!(
        !all.contains(&cport),
        "calls do not use the -p socket: {all:?}"
    );
}

#[test]
fn sipp_uac_un_against_our_uas() {
    // SIPp refuses `un` when -max_socket (50000 by default) exceeds the open file limit.
    let dir = run_pair(
        "sipp-un-vs-uas",
        false,
        30,
        &["-t", "un"],
        &["-t", "un", "-max_socket", "200", "-r", "25", "-trace_msg"],
    );
    // The SIPp client's own trace: one port per call, and every call succeeded above,
    // so our server answered each call's socket.
    let log = std::fs::read_dir(&dir)
        .expect("read scratch dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_messages.log"))
        .expect("SIPp client -trace_msg file");
    let text = std::fs::read_to_string(log).expect("read trace");
    let vias: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Via: SIP/2.0/UDP "))
        .filter_map(|v| v.split(';').next())
        .collect();
    assert!(vias.len() >= 25, "SIPp used a socket per call: {vias:?}");
}

#[test]
fn our_uas_un_answers_from_its_listening_port() {
    let dir = scratch_dir("un-uas-port");
    let sport = free_port();
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir).args([
        "-sn",
        "uas",
        "-t",
        "un",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-nostdin",
        "-timeout",
        "20s",
    ]);
    let _server = Proc::spawn("un uas", &mut scmd);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let me = sock.local_addr().expect("local addr").port();
    let invite = format!(
        "INVITE sip:service@127.0.0.1:{sport} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-un-1\r\n\
         From: sipp <sip:sipp@127.0.0.1:{me}>;tag=1\r\n\
         To: service <sip:service@127.0.0.1:{sport}>\r\n\
         Call-ID: un-uas-port@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: sip:sipp@127.0.0.1:{me}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // The server may still be starting: resend until it answers (bounded).
    let mut buf = [0u8; 4096];
    let mut answer = None;
    for _ in 0..20 {
        sock.send_to(invite.as_bytes(), ("127.0.0.1", sport))
            .expect("send");
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            answer = Some((String::from_utf8_lossy(&buf[..n]).to_string(), from));
            break;
        }
    }
    let (text, from) = answer.expect("the un server answers the INVITE");
    assert!(text.starts_with("SIP/2.0 "), "a response: {text}");
    assert_eq!(from.port(), sport, "answered from the listening socket");
}

#[test]
fn max_socket_caps_the_sockets_of_our_un_client() {
    // -d 1000 keeps the 10 calls open together, so the cap is reached (SIPp closes a
    // socket when its last call ends; sequential calls would each get a fresh one).
    let dir = run_pair(
        "un-max-socket",
        true,
        10,
        &["-trace_msg"],
        &["-t", "un", "-max_socket", "3", "-d", "1000", "-r", "50"],
    );
    let ports = request_via_ports(&dir);
    assert_eq!(ports.len(), 10, "calls seen by the server: {ports:?}");
    let mut all = BTreeSet::new();
    for (call, p) in &ports {
        assert_eq!(
            p.len(),
            1,
            "call {call} used one port for all its requests: {p:?}"
        );
        all.extend(p.iter().copied());
    }
    assert!((1..=3).contains(&all.len()), "at most 3 sockets: {all:?}");
}
