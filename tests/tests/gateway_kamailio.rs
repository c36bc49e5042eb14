//! The REGISTER gateway against a real registrar: Kamailio with registrar, usrloc and
//! auth (a plain-text password in its config). A `gossipper worker` armed with the
//! built-in `uas` registers "alice" from its UAS socket with Digest; SIPp's uac calls
//! the AOR through Kamailio, whose `lookup("location")` routes the INVITE to our socket,
//! and the calls succeed. OPTIONS keep-alives leave from the same socket. A 4 s Expires
//! is refreshed (a second authorised REGISTER), and
//! on stop the `Expires: 0` removes the binding: the next call gets Kamailio's 404. A
//! wrong password is reported by name in the worker's log and the job's error.

#[path = "../kamailio/mod.rs"]
mod kamailio;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, scratch_dir, tail};
use kamailio::{Kamailio, call_aor};

const DOMAIN: &str = "gw.test";

/// Starts a worker armed with `uas`, registering alice with `password` at `registrar`.
fn gateway(
    dir: &Path,
    registrar: u16,
    password: &str,
    expires_s: u32,
    keepalive_s: u32,
) -> (Proc, u16) {
    let port = free_port();
    let spec = serde_json::json!({
        "kind": "gossipper_job_spec",
        "version": 1,
        "job_id": "gw-1",
        "artifacts_dir": dir.join("out"),
        "stats_interval_ms": 500,
        "run": {"engine": {
            "scenario": {"builtin": "uas"},
            "local_ip": "127.0.0.1",
            "local_port": port,
            "shards": 2,
            "register": {
                "registrar": format!("127.0.0.1:{registrar}"),
                "domain": DOMAIN,
                "user": "alice",
                "auth_user": "alice",
                "password": password,
                "contact": "0.0.0.0:0",
                "expires_s": expires_s,
                "keepalive_s": keepalive_s,
                "retry_s": 15
            }
        }}
    });
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).expect("write spec.json");
    let mut p = Proc::spawn(
        "gossipper worker (gateway)",
        Command::new(gossipper_bin()).args([
            "worker",
            "--spec",
            path.to_str().expect("utf-8 path"),
        ]),
    );
    p.wait_bound(Sock::Udp, port);
    (p, port)
}

#[test]
fn the_gateway_registers_takes_calls_refreshes_and_unregisters_at_kamailio() {
    let dir = scratch_dir("gateway-kamailio");
    let k = Kamailio::start_registrar(&dir, DOMAIN, "s3cret");
    let (worker, port) = gateway(&dir, k.udp_port, "s3cret", 4, 2);

    // Registered: a call to the AOR reaches the armed uas (bounded wait for the binding).
    k.wait_reachable(&dir, "alice", "the gateway", String::new);
    // Five more calls, all through Kamailio's lookup to our socket.
    let (code, out) = call_aor(&dir, k.udp_port, "alice", 5);
    assert_eq!(code, Some(0), "{out}\nkamailio:\n{}", k.log_tail());

    // The 4 s binding is refreshed at 3.6 s: a later authorised REGISTER, same Call-ID.
    let first_count = k.requests("REGISTER").len();
    assert!(first_count >= 2, "{:?}", k.requests("REGISTER"));
    let start = Instant::now();
    while k.requests("REGISTER").len() < first_count + 2 {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "no refresh within 8 s: {:#?}",
            k.requests("REGISTER")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        k.requests("REGISTER")
            .iter()
            .all(|l| l.contains("expires 4")),
        "{:#?}",
        k.requests("REGISTER")
    );
    // OPTIONS keep-alives (every 2 s here) from the same socket as the REGISTERs.
    let from = |l: &str| {
        l.split(" from ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .map(str::to_string)
    };
    let options = k.requests("OPTIONS");
    assert!(
        !options.is_empty(),
        "no keep-alive: {:#?}",
        k.requests("REGISTER")
    );
    let uas = Some(format!("127.0.0.1:{port}"));
    assert_eq!(
        from(&k.requests("REGISTER")[0]),
        uas,
        "REGISTER from the UAS socket"
    );
    assert_eq!(from(&options[0]), uas, "{options:#?}");
    assert!(options[0].contains("OPTIONS sip:gw.test "), "{options:#?}");
    // Still reachable after the refresh.
    let (code, out) = call_aor(&dir, k.udp_port, "alice", 1);
    assert_eq!(code, Some(0), "after the refresh: {out}");

    // Stop (SIGTERM, as the supervisor does): the Expires 0 goes out and is answered.
    let _ = Command::new("kill")
        .args(["-TERM", &worker.child.id().to_string()])
        .status();
    let (status, _out, err) = worker.wait(Duration::from_secs(10));
    assert!(status.success(), "worker: {status}\n{}", tail(&err));
    assert!(
        err.contains("gateway: \"alice\" registered (Expires 4 s)"),
        "{}",
        tail(&err)
    );
    assert!(
        err.contains("gateway: \"alice\" unregistered (Expires 0)"),
        "{}",
        tail(&err)
    );
    assert!(
        k.requests("REGISTER")
            .iter()
            .any(|l| l.contains("expires 0")),
        "{:#?}",
        k.requests("REGISTER")
    );
    // The binding is gone at once (not left to lapse): Kamailio answers 404 now.
    let (code, out) = call_aor(&dir, k.udp_port, "alice", 1);
    assert_eq!(code, Some(1), "a call after the Expires 0 must fail: {out}");
}

#[test]
fn a_wrong_password_is_reported_by_name() {
    let dir = scratch_dir("gateway-kamailio-badpw");
    let k = Kamailio::start_registrar(&dir, DOMAIN, "s3cret");
    let (worker, _port) = gateway(&dir, k.udp_port, "wrong", 300, 0);
    let start = Instant::now();
    while k.requests("REGISTER").len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:#?}",
            k.requests("REGISTER")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.child.id().to_string()])
        .status();
    let (_status, out, err) = worker.wait(Duration::from_secs(10));
    assert!(
        err.contains("gateway: registration of \"alice\" failed: 401 after answering the challenge: the registrar refused user \"alice\"'s password"),
        "{}",
        tail(&err)
    );
    // The job's exit line carries it as the job's error.
    let exit = out
        .lines()
        .rev()
        .find(|l| l.contains("\"kind\":\"exit\""))
        .unwrap_or_default();
    assert!(exit.contains("refused user"), "{exit}");
    // Nothing is bound: no call reaches us.
    let (code, _) = call_aor(&dir, k.udp_port, "alice", 1);
    assert_eq!(code, Some(1));
}
